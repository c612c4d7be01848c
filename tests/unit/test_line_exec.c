/*
 * test_line_exec.c — the line executor with local stations (no network): extraction by rules,
 * redaction, retrieval, validation paths, `when:` skips, DAG order, review parking, continuing
 * a decided review (approve / reject / edit), and robustness when allocations fail.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/json.h"

struct env {
    char dir[256];
    struct belt_config *cfg;
    struct belt_engine *e;
};

static void env_open(struct env *v, const char *lines)
{
    belt_test_tmpdir(v->dir, sizeof(v->dir));
    char text[8192];
    snprintf(text, sizeof(text), "store: { path: belt.db }\n%s", lines);
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(text, strlen(text), "belt.yaml", v->dir, &v->cfg, &err),
                       &err);
    struct belt_engine_params ep = belt_engine_default_params();
    ep.config = v->cfg;
    ep.trace = 0;
    BELT_ASSERT_OK_ERR(belt_engine_new(&ep, &v->e, &err), &err);
}

static void env_close(struct env *v)
{
    belt_engine_free(v->e);
    belt_config_free(v->cfg);
    belt_test_rmrf(v->dir);
}

/* Run one record; returns the output object (caller json_decref) and the outcome. */
static json_t *run(struct env *v, const char *line, const char *record, int *outcome)
{
    char *out = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_line_process(v->e, line, record, strlen(record), &out, outcome, &err),
                       &err);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    belt_free(out);
    return o;
}

struct seen {
    const char *id; /* review expected */
    int n;          /* found */
};

static int see_review(void *ud, const struct belt_review_record *r)
{
    struct seen *s = ud;
    if (strcmp(r->id, s->id) == 0 && r->line && strcmp(r->line, "t") == 0 && r->station &&
        strcmp(r->station, "big") == 0 && strstr(r->payload_json, "\"record\""))
        s->n++;
    return 0;
}

static const char *const TICKETS =
    "lines:\n"
    "  t:\n"
    "    stations:\n"
    "      - name: fields\n"
    "        kind: extract\n"
    "        input: text\n"
    "        rules:\n"
    "          order_id: { pattern: '#(\\d{5})' }\n"
    "          amount: { pattern: '\\$\\d+', normalize: currency }\n"
    "        schema: { type: object, required: [order_id] }\n"
    "        on_fail: drop\n"
    "      - { name: clean, kind: redact, input: text, pii: [email] }\n"
    "      - { name: copy, kind: redact, input: note, output: note_clean, pii: [email] }\n"
    "      - name: big\n"
    "        kind: review\n"
    "        when: fields.amount > 100\n"
    "        reason: 'refund of {{fields.amount}} for #{{fields.order_id}}'\n";

static void line_exec_extract_and_redact(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, TICKETS);
    int outcome = -1;
    json_t *o =
        run(&v, "t",
            "{\"text\": \"order #12345 for $50, mail a@example.com\", \"note\": \"b@example.com\"}",
            &outcome);
    assert_int_equal(outcome, BELT_LINE_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "fields"), "order_id")), "12345");
    assert_true(json_number_value(json_object_get(json_object_get(o, "fields"), "amount")) == 50);
    assert_string_equal(json_string_value(json_object_get(o, "text")),
                        "order #12345 for $50, mail [EMAIL_1]");
    assert_string_equal(json_string_value(json_object_get(o, "note")), "b@example.com");
    /* one placeholder map per item: another value gets the next number */
    assert_string_equal(json_string_value(json_object_get(o, "note_clean")), "[EMAIL_2]");
    const json_t *path = json_object_get(json_object_get(o, "_belt"), "path");
    assert_int_equal(json_array_size(path), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(path, 3), "status")),
                        "skipped");
    json_decref(o);
    env_close(&v);
}

static void line_exec_failure_drops_with_reason(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, TICKETS);
    int outcome = -1;
    json_t *o = run(&v, "t", "{\"text\": \"no number, $5\"}", &outcome);
    assert_int_equal(outcome, BELT_LINE_DROPPED);
    BELT_ASSERT_CONTAINS(json_string_value(json_object_get(json_object_get(o, "_belt"), "reason")),
                         "fields: the rules' answer is not valid");
    assert_null(json_object_get(o, "clean")); /* nothing after the drop ran */
    json_decref(o);
    env_close(&v);
}

static void line_exec_review_parks_in_the_queue(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, TICKETS);
    int outcome = -1;
    json_t *o = run(&v, "t", "{\"text\": \"order #22222 refund $500\"}", &outcome);
    assert_int_equal(outcome, BELT_LINE_NEEDS_REVIEW);
    const json_t *b = json_object_get(o, "_belt");
    assert_string_equal(json_string_value(json_object_get(b, "reason")),
                        "refund of 500 for #22222");
    const char *id = json_string_value(json_object_get(b, "review_id"));
    assert_non_null(id);
    struct belt_store_params sp = belt_store_default_params();
    char db[400];
    snprintf(db, sizeof(db), "%s/belt.db", v.dir);
    sp.path = db;
    struct belt_store *st = NULL;
    BELT_ASSERT_OK(belt_store_open(&sp, &st, NULL));
    struct seen seen = {id, 0};
    BELT_ASSERT_OK(belt_review_list(st, BELT_REVIEW_PENDING, 0, see_review, &seen, NULL));
    assert_int_equal(seen.n, 1);
    belt_store_close(st);
    json_decref(o);
    env_close(&v);
}

static const char *const CHECKS =
    "lines:\n"
    "  v:\n"
    "    on_fail: drop\n"
    "    stations:\n"
    "      - { name: s, kind: validate, input: x, schema: { type: integer, maximum: 9 } }\n"
    "      - { name: l, kind: validate, input: label, labels: [a, b] }\n"
    "      - { name: r, kind: validate, input: code, regex: '^[A-Z]{2}\\d+$' }\n"
    "      - { name: c, kind: validate, input: x, condition: 'value < y' }\n";

static void expect_drop(struct env *v, const char *rec, const char *why)
{
    int outcome = -1;
    json_t *o = run(v, "v", rec, &outcome);
    assert_int_equal(outcome, BELT_LINE_DROPPED);
    BELT_ASSERT_CONTAINS(json_string_value(json_object_get(json_object_get(o, "_belt"), "reason")),
                         why);
    json_decref(o);
}

static void line_exec_validate_kinds(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, CHECKS);
    int outcome = -1;
    json_t *o =
        run(&v, "v", "{\"x\": 3, \"y\": 4, \"label\": \"a\", \"code\": \"AB12\"}", &outcome);
    assert_int_equal(outcome, BELT_LINE_OK);
    json_decref(o);
    expect_drop(&v, "{\"x\": 30, \"y\": 40, \"label\": \"a\", \"code\": \"AB12\"}",
                "s: x does not match");
    expect_drop(&v, "{\"x\": 3, \"y\": 4, \"label\": \"z\", \"code\": \"AB12\"}",
                "l: label is not one");
    expect_drop(&v, "{\"x\": 3, \"y\": 4, \"label\": \"a\", \"code\": \"ab\"}",
                "r: code does not match");
    expect_drop(&v, "{\"x\": 5, \"y\": 4, \"label\": \"a\", \"code\": \"AB1\"}",
                "c: condition does not");
    expect_drop(&v, "{\"y\": 4, \"label\": \"a\", \"code\": \"AB1\"}",
                "s: x does not match the schema");
    env_close(&v);
}

static void line_exec_dag_runs_after_needs(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, "lines:\n"
                 "  d:\n"
                 "    stations:\n"
                 "      - { name: last, kind: validate, input: b, condition: 'value == \"B\"',\n"
                 "          needs: [a, b] }\n"
                 "      - { name: a, kind: extract, input: text, needs: [],\n"
                 "          rules: { v: { pattern: 'a=(\\w)' } } }\n"
                 "      - { name: b, kind: extract, input: text, needs: [a], output: b,\n"
                 "          rules: { w: { pattern: 'b=(\\w)' } } }\n");
    int outcome = -1;
    json_t *o = run(&v, "d", "{\"text\": \"a=A b=B\"}", &outcome);
    /* validate reads b (an object), so the condition fails: proof that it ran after b */
    assert_int_equal(outcome, BELT_LINE_NEEDS_REVIEW);
    const json_t *path = json_object_get(json_object_get(o, "_belt"), "path");
    assert_string_equal(json_string_value(json_object_get(json_array_get(path, 0), "station")),
                        "a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(path, 1), "station")),
                        "b");
    assert_string_equal(json_string_value(json_object_get(json_array_get(path, 2), "station")),
                        "last");
    json_decref(o);
    env_close(&v);
}

static void line_exec_retrieve_adds_passages_with_ids(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, "lines:\n"
                 "  r:\n"
                 "    stations:\n"
                 "      - { name: docs, kind: retrieve, corpus: kb, input: q, k: 2 }\n");
    char db[400];
    snprintf(db, sizeof(db), "%s/belt.db", v.dir);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = db;
    struct belt_store *st = NULL;
    BELT_ASSERT_OK(belt_store_open(&sp, &st, NULL));
    struct belt_indexer_params ipar = belt_indexer_default_params();
    ipar.corpus = "kb";
    struct belt_indexer *ix = NULL;
    BELT_ASSERT_OK(belt_indexer_new(st, &ipar, &ix, NULL));
    const char *a = "refunds are paid within thirty days", *b = "shipping takes three days";
    BELT_ASSERT_OK(belt_indexer_add(ix, "p-refund", a, strlen(a), NULL));
    BELT_ASSERT_OK(belt_indexer_add(ix, "p-ship", b, strlen(b), NULL));
    BELT_ASSERT_OK(belt_indexer_commit(ix, NULL));
    belt_indexer_free(ix);
    belt_store_close(st);
    int outcome = -1;
    json_t *o = run(&v, "r", "{\"q\": \"when is my refund paid\"}", &outcome);
    assert_int_equal(outcome, BELT_LINE_OK);
    const json_t *docs = json_object_get(o, "docs");
    assert_true(json_array_size(docs) >= 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(docs, 0), "id")),
                        "p-refund");
    json_decref(o);
    env_close(&v);
}

static void line_exec_sensitive_station_waits_for_a_person(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, "lines:\n"
                 "  s:\n"
                 "    stations:\n"
                 "      - { name: send, kind: extract, input: text, sensitive: true,\n"
                 "          rules: { n: { pattern: '(\\d+)' } } }\n");
    int outcome = -1;
    json_t *o = run(&v, "s", "{\"text\": \"42\"}", &outcome);
    assert_int_equal(outcome, BELT_LINE_NEEDS_REVIEW);
    assert_null(json_object_get(o, "send")); /* never ran */
    BELT_ASSERT_CONTAINS(json_string_value(json_object_get(json_object_get(o, "_belt"), "reason")),
                         "sensitive station send");
    json_decref(o);
    env_close(&v);
}

static void line_exec_rejects_bad_records(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, TICKETS);
    char *out = NULL;
    int outcome = 0;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_line_process(v.e, "t", "[1]", 3, &out, &outcome, &err),
                       BELT_ERR_INVALID);
    BELT_ASSERT_STATUS(belt_line_process(v.e, "t", "{", 1, &out, &outcome, &err), BELT_ERR_INVALID);
    BELT_ASSERT_STATUS(belt_line_process(v.e, "nope", "{}", 2, &out, &outcome, &err),
                       BELT_ERR_NOTFOUND);
    assert_null(out);
    env_close(&v);
}

static void line_exec_survives_allocation_failures(void **state)
{
    (void)state;
    struct env v;
    env_open(&v, TICKETS);
    const char *rec = "{\"text\": \"order #12345 for $50, mail a@example.com\", \"note\": \"x\"}";
    int failed = 0;
    for (long n = 1; n < 400; n += 3) {
        char *out = NULL;
        int outcome = 0;
        belt__alloc_fail_after(n, 0);
        belt_status st = belt_line_process(v.e, "t", rec, strlen(rec), &out, &outcome, NULL);
        belt__alloc_fail_after(0, 0);
        failed += st != BELT_OK;
        belt_free(out);
    }
    assert_true(failed > 0); /* the injection hit something */
    env_close(&v);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(line_exec_extract_and_redact),
    cmocka_unit_test(line_exec_failure_drops_with_reason),
    cmocka_unit_test(line_exec_review_parks_in_the_queue),
    cmocka_unit_test(line_exec_validate_kinds),
    cmocka_unit_test(line_exec_dag_runs_after_needs),
    cmocka_unit_test(line_exec_retrieve_adds_passages_with_ids),
    cmocka_unit_test(line_exec_sensitive_station_waits_for_a_person),
    cmocka_unit_test(line_exec_rejects_bad_records),
    cmocka_unit_test(line_exec_survives_allocation_failures),
};

BELT_TEST_MAIN(tests)
