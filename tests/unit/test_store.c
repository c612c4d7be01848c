/* Unit tests for src/store: WAL, migrations, version checks, registry, eval runs. */
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

static void open_at(const char *path, struct belt_store **st)
{
    struct belt_store_params p = belt_store_default_params();
    p.path = path;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_store_open(&p, st, &err), &err);
}

static void store_opens_in_wal_mode_at_latest_schema(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/b.db", dir);
    struct belt_store *st = NULL;
    open_at(path, &st);
    assert_int_equal(belt_store_schema_version(st), belt_store_schema_latest());
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(belt__store_db(st), "PRAGMA journal_mode", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    belt_store_close(st);
    /* Reopening is a no-op migration. */
    open_at(path, &st);
    assert_int_equal(belt_store_schema_version(st), belt_store_schema_latest());
    belt_store_close(st);
    belt_test_rmrf(dir);
}

static void store_refuses_a_newer_schema(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/b.db", dir);
    struct belt_store *st = NULL;
    open_at(path, &st);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", belt_store_schema_latest() + 1);
    assert_int_equal(sqlite3_exec(belt__store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
    belt_store_close(st);
    struct belt_store_params p = belt_store_default_params();
    p.path = path;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_store_open(&p, &st, &err), BELT_ERR_VERSION);
    BELT_ASSERT_CONTAINS(err.msg, "newer than this build");
    assert_null(st);
    belt_test_rmrf(dir);
}

static void store_refuses_a_file_that_is_not_a_database(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/b.db", dir);
    belt_test_write_file(path, "this is not an sqlite file, not at all, really not at all......");
    struct belt_store_params p = belt_store_default_params();
    p.path = path;
    struct belt_store *st = NULL;
    struct belt_error err = {0};
    belt_status s = belt_store_open(&p, &st, &err);
    assert_true(s == BELT_ERR_FORMAT || s == BELT_ERR_STORE);
    BELT_ASSERT_CONTAINS(err.msg, "b.db");
    belt_test_rmrf(dir);
}

struct seen {
    int n;
    char last[64];
};

static int collect(void *ud, const struct belt_model_record *r)
{
    struct seen *s = ud;
    s->n++;
    snprintf(s->last, sizeof(s->last), "%s/%s", r->name, r->kind);
    return 0;
}

static void store_registry_round_trip(void **state)
{
    (void)state;
    struct belt_store *st = NULL;
    open_at(":memory:", &st);
    struct belt_error err = {0};
    struct belt_model_record r = {"intent", "classifier", "m.belt", "abcd", "{\"acc\":0.9}", 0};
    BELT_ASSERT_OK_ERR(belt_store_register_model(st, &r, &err), &err);
    BELT_ASSERT_OK_ERR(belt_store_register_model(st, &r, &err), &err); /* replace */
    struct seen s = {0};
    BELT_ASSERT_OK(belt_store_list_models(st, collect, &s, &err));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.last, "intent/classifier");
    r.metrics_json = "[1]";
    BELT_ASSERT_STATUS(belt_store_register_model(st, &r, &err), BELT_ERR_INVALID);
    int64_t id = 0;
    BELT_ASSERT_OK(belt_store_add_eval_run(st, "intent", "test.jsonl", "{\"acc\":1}", &id, &err));
    assert_true(id > 0);
    BELT_ASSERT_STATUS(belt_store_add_eval_run(st, "intent", "x", "nope", NULL, &err),
                       BELT_ERR_INVALID);
    belt_store_close(st);
    belt_store_close(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(store_opens_in_wal_mode_at_latest_schema),
    cmocka_unit_test(store_refuses_a_newer_schema),
    cmocka_unit_test(store_refuses_a_file_that_is_not_a_database),
    cmocka_unit_test(store_registry_round_trip),
};
BELT_TEST_MAIN(tests)
