/* Unit tests for src/route/replay.c: reading the outcomes format, and errors that name the file,
 * the line and the field. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "route/replay.h"
#include "util/alloc.h"

static const char good[] =
    "{\"id\":\"a\",\"query\":\"What is 2+2?\",\"expected\":\"4\",\"stakes\":\"high\","
    "\"tags\":[\"math\"],\"key\":\"team-a\",\"models\":{"
    "\"small\":{\"answer\":\"4\",\"correct\":true,\"cost_usd\":0.5,\"latency_ms\":12.5,"
    "\"confidence\":0.8,\"logprob_mean\":-0.1,\"logprob_min\":-1.5,\"samples\":[\"4\","
    "{\"answer\":\"5\",\"cost_usd\":0.25}],\"verify\":{\"judge\":0.9,\"other\":{\"score\":0.2,"
    "\"cost_usd\":0.01}}},"
    "\"large\":{\"error\":\"timeout\",\"cost_usd\":0}}}\n"
    "{\"query\":\"second\",\"models\":{\"large\":{\"answer\":\"x\",\"correct\":0,"
    "\"cost_usd\":1.5,\"label\":\"x\",\"abstained\":false}}}\n";

static struct belt__replay *load_text(const char *text, belt_status want, const char *msg)
{
    char dir[256], path[320];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/o.jsonl", dir);
    belt_test_write_file(path, text);
    struct belt__replay *rp = NULL;
    struct belt_error err = {0};
    belt_status st = belt__replay_load(path, &rp, &err);
    belt_test_rmrf(dir);
    if (st != want)
        fail_msg("expected %s, got %s (%s)", belt_status_name(want), belt_status_name(st), err.msg);
    if (msg)
        BELT_ASSERT_CONTAINS(err.msg, msg);
    return rp;
}

static void replay_reads_tasks_and_outcomes(void **state)
{
    (void)state;
    struct belt__replay *rp = load_text(good, BELT_OK, NULL);
    assert_int_equal(rp->n_tasks, 2);
    assert_int_equal(rp->n_models, 2);
    const struct belt__replay_task *t = &rp->tasks[0];
    assert_string_equal(t->id, "a");
    assert_string_equal(t->expected, "4");
    assert_string_equal(t->stakes, "high");
    assert_string_equal(t->tags[0], "math");
    assert_string_equal(t->key, "team-a");
    size_t s = belt__replay_model(rp, "small"), l = belt__replay_model(rp, "large");
    const struct belt__replay_outcome *o = &t->out[s];
    assert_int_equal(o->correct, 1);
    assert_string_equal(o->ans.text, "4");
    assert_true(o->ans.confidence == 0.8 && o->ans.logprob_min == -1.5);
    assert_int_equal(o->ans.latency_us, 12500);
    assert_int_equal(o->n_samples, 2);
    assert_true(o->samples[0].cost_usd == 0.5 && o->samples[1].cost_usd == 0.25);
    assert_true(belt__replay_verdict(o, "judge")->score == 0.9);
    assert_true(belt__replay_verdict(o, "other")->cost_usd == 0.01);
    assert_null(belt__replay_verdict(o, "nobody"));
    assert_int_equal(t->out[l].ans.status, BELT_ERR_UPSTREAM);
    assert_string_equal(t->out[l].ans.error, "timeout");
    assert_int_equal(t->out[l].correct, -1);
    assert_false(rp->tasks[1].out[s].present);
    assert_string_equal(rp->tasks[1].id, "line 2");
    assert_int_equal(rp->tasks[1].out[l].correct, 0);
    assert_true(belt__replay_mean_cost(rp, l) == 0.75);
    assert_int_equal(belt__replay_mean_latency_us(rp, s), 12500);
    belt__replay_free(rp);
}

static const char *const bad[][2] = {
    {"{\"query\":\"q\",\"models\":{\"m\":{}}}\nnot json\n", "o.jsonl:2"},
    {"{\"models\":{\"m\":{}}}\n", "o.jsonl:1: query: missing or not a string"},
    {"{\"query\":\"q\"}\n", "o.jsonl:1: models: missing"},
    {"{\"query\":\"q\",\"models\":{\"m\":{\"cost_usd\":\"cheap\"}}}\n",
     "o.jsonl:1: models.m.cost_usd: expected a number"},
    {"{\"query\":\"q\",\"models\":{\"m\":{\"confidence\":1.5}}}\n",
     "models.m.confidence: must be in [0, 1]"},
    {"{\"query\":\"q\",\"models\":{\"m\":{\"correct\":\"yes\"}}}\n",
     "models.m.correct: expected true or false"},
    {"{\"query\":\"q\",\"models\":{\"m\":{\"samples\":[1]}}}\n", "models.m.samples[0]"},
    {"{\"query\":\"q\",\"models\":{\"m\":{\"verify\":{\"j\":\"good\"}}}}\n", "models.m.verify.j"},
    {"{\"query\":\"q\",\"tags\":\"x\",\"models\":{\"m\":{}}}\n", "tags: expected a list"},
    {"\n\n", "no tasks"},
};

static void replay_errors_name_line_and_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < BELT_ARRAY_LEN(bad); i++) {
        belt_status want = i + 1 == BELT_ARRAY_LEN(bad) ? BELT_ERR_INVALID : BELT_ERR_FORMAT;
        assert_null(load_text(bad[i][0], want, bad[i][1]));
    }
}

static void replay_survives_every_allocation_failure(void **state)
{
    (void)state;
    char dir[256], path[320];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/o.jsonl", dir);
    belt_test_write_file(path, good);
    for (long n = 1; n < 1000; n++) {
        struct belt__replay *rp = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = belt__replay_load(path, &rp, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        belt__replay_free(rp);
        if (st == BELT_OK && injected == 0) {
            belt_test_rmrf(dir);
            return;
        }
        /* util/lines.c reports a failed allocation while growing a line as TOOBIG, and jansson
         * some of its own as a parse error (FORMAT); what matters here is no crash, no leak */
        if (st != BELT_OK && st != BELT_ERR_NOMEM && st != BELT_ERR_IO && st != BELT_ERR_TOOBIG &&
            st != BELT_ERR_FORMAT)
            fail_msg("allocation %ld: unexpected %s (%s)", n, belt_status_name(st), err.msg);
    }
    fail_msg("the load never completed");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(replay_reads_tasks_and_outcomes),
    cmocka_unit_test(replay_errors_name_line_and_field),
    cmocka_unit_test(replay_survives_every_allocation_failure),
};

BELT_TEST_MAIN(tests)
