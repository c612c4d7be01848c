/* Unit tests for small util modules: str, utf8, rng, clock, status names, lines, json. */
#include "testutil.h"

#include <string.h>

#include "util/clock.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/lines.h"
#include "util/rng.h"
#include "util/str.h"
#include "util/utf8.h"

static void str_parsers_reject_garbage(void **state)
{
    (void)state;
    int64_t i;
    double d;
    assert_int_equal(belt_parse_i64("42", &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(belt_parse_i64("-7", &i), 0);
    assert_int_equal(i, -7);
    assert_int_equal(belt_parse_i64("42x", &i), -1);
    assert_int_equal(belt_parse_i64("", &i), -1);
    assert_int_equal(belt_parse_i64(" 1", &i), -1);
    assert_int_equal(belt_parse_i64("99999999999999999999", &i), -1);
    assert_int_equal(belt_parse_double("0.25", &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(belt_parse_double("nan", &d), -1);
    assert_int_equal(belt_parse_double("1e999", &d), -1);
}

static void str_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(belt_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(belt_parse_duration_ms("30s", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(belt_parse_duration_ms("1.5m", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(belt_parse_duration_ms("100", &ms), 0);
    assert_int_equal(ms, 100);
    assert_int_equal(belt_parse_duration_ms("30d", &ms), 0);
    assert_int_equal(ms, 30LL * 86400000);
    assert_int_equal(belt_parse_duration_ms("2w", &ms), -1);
    assert_int_equal(belt_parse_duration_ms("5 s", &ms), -1);
    assert_int_equal(belt_parse_duration_ms("-1s", &ms), -1);
    assert_int_equal(belt_parse_duration_ms("3y", &ms), -1);
}

static void utf8_validation_finds_first_bad_byte(void **state)
{
    (void)state;
    size_t bad = 99;
    assert_true(belt_utf8_valid("h\xc3\xa9llo \xe2\x82\xac", 11, &bad));
    assert_false(belt_utf8_valid("ab\xff", 3, &bad));
    assert_int_equal(bad, 2);
    assert_false(belt_utf8_valid("\xc0\xaf", 2, &bad)); /* overlong '/' */
    assert_int_equal(bad, 0);
    assert_false(belt_utf8_valid("\xed\xa0\x80", 3, &bad)); /* surrogate */
    assert_false(belt_utf8_valid("\xe2\x82", 2, &bad));     /* truncated */
    char out[4];
    assert_int_equal(belt_utf8_encode(0x20AC, out), 3);
    assert_memory_equal(out, "\xe2\x82\xac", 3);
}

static void rng_is_reproducible_and_bounded(void **state)
{
    (void)state;
    struct belt_rng a, b;
    belt_rng_seed(&a, 7);
    belt_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        assert_int_equal(belt_rng_next(&a), belt_rng_next(&b));
    for (int i = 0; i < 1000; i++) {
        assert_true(belt_rng_below(&a, 10) < 10);
        double u = belt_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
    int v[5] = {0, 1, 2, 3, 4};
    belt_rng_shuffle(&a, v, 5, sizeof(int));
    int sum = 0;
    for (int i = 0; i < 5; i++)
        sum += v[i];
    assert_int_equal(sum, 10);
}

static void status_names_and_texts(void **state)
{
    (void)state;
    assert_string_equal(belt_status_name(BELT_OK), "BELT_OK");
    assert_string_equal(belt_status_name(BELT_ERR_INTERNAL), "BELT_ERR_INTERNAL");
    assert_string_equal(belt_strerror(BELT_ERR_NOMEM), "out of memory");
    assert_string_equal(belt_status_name((belt_status)999), "BELT_ERR_UNKNOWN");
    struct belt_error e = {BELT_ERR_IO, 5, "x"};
    belt_error_clear(&e);
    assert_int_equal(e.code, BELT_OK);
    assert_string_equal(e.msg, "");
}

static void clock_formats_rfc3339(void **state)
{
    (void)state;
    char out[40];
    belt_format_rfc3339(1700000000123LL, out, sizeof(out));
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    int64_t a = belt_now_us();
    int64_t b = belt_now_us();
    assert_true(b >= a);
}

static void lines_reader_numbers_lines_and_strips_crlf(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    belt_test_write_file(path, "one\r\ntwo\n\nlast-without-newline");
    struct belt_line_reader r;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_line_reader_open(&r, path, 0, &err));
    const char *want[] = {"one", "two", "", "last-without-newline"};
    for (int i = 0; i < 4; i++) {
        int got = 0;
        BELT_ASSERT_OK(belt_line_reader_next(&r, &got, &err));
        assert_int_equal(got, 1);
        assert_string_equal(belt_buf_cstr(&r.line), want[i]);
        assert_int_equal(r.lineno, i + 1);
    }
    int got = 1;
    BELT_ASSERT_OK(belt_line_reader_next(&r, &got, &err));
    assert_int_equal(got, 0);
    belt_line_reader_deinit(&r);
    belt_test_rmrf(dir);
}

static void lines_reader_rejects_overlong_line_with_its_number(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    belt_test_write_file(path, "short\nthis line is far too long\n");
    struct belt_line_reader r;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_line_reader_open(&r, path, 10, &err));
    int got = 0;
    BELT_ASSERT_OK(belt_line_reader_next(&r, &got, &err));
    BELT_ASSERT_STATUS(belt_line_reader_next(&r, &got, &err), BELT_ERR_TOOBIG);
    BELT_ASSERT_CONTAINS(err.msg, "in.txt:2:");
    belt_line_reader_deinit(&r);
    belt_test_rmrf(dir);
}

static void jsonl_reports_bad_lines_and_continues(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/in.jsonl", dir);
    belt_test_write_file(path, "{\"a\":1}\n\n{\"a\":\n[1]\n{\"t\":\"\xff\"}\n{\"a\":2}\n");
    struct belt_jsonl_reader r;
    struct belt_error err = {0};
    json_t *o = NULL;
    BELT_ASSERT_OK(belt_jsonl_open(&r, path, &err));
    BELT_ASSERT_OK(belt_jsonl_next(&r, &o, &err));
    assert_int_equal(belt_json_int(o, "a", 0), 1);
    json_decref(o);
    BELT_ASSERT_STATUS(belt_jsonl_next(&r, &o, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "in.jsonl:3:");
    BELT_ASSERT_STATUS(belt_jsonl_next(&r, &o, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "in.jsonl:4: expected a JSON object");
    BELT_ASSERT_STATUS(belt_jsonl_next(&r, &o, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "in.jsonl:5: invalid UTF-8");
    BELT_ASSERT_OK(belt_jsonl_next(&r, &o, &err));
    assert_int_equal(belt_json_int(o, "a", 0), 2);
    json_decref(o);
    BELT_ASSERT_OK(belt_jsonl_next(&r, &o, &err));
    assert_null(o);
    belt_jsonl_close(&r);
    belt_test_rmrf(dir);
}

static void atomic_file_leaves_old_content_on_abort(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/model.bin", dir);
    belt_test_write_file(path, "old");
    struct belt_atomic_file af;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_atomic_file_open(&af, path, &err));
    fputs("new-but-abandoned", af.fp);
    belt_atomic_file_abort(&af);
    char *c = belt_test_read_file(path);
    assert_string_equal(c, "old");
    belt_free(c);
    BELT_ASSERT_OK(belt_atomic_file_open(&af, path, &err));
    fputs("new", af.fp);
    BELT_ASSERT_OK(belt_atomic_file_commit(&af, &err));
    c = belt_test_read_file(path);
    assert_string_equal(c, "new");
    belt_free(c);
    char hex[65];
    BELT_ASSERT_OK(belt_file_sha256_hex(path, hex, &err));
    assert_string_equal(hex, "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437");
    belt_test_rmrf(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(str_parsers_reject_garbage),
    cmocka_unit_test(str_durations),
    cmocka_unit_test(utf8_validation_finds_first_bad_byte),
    cmocka_unit_test(rng_is_reproducible_and_bounded),
    cmocka_unit_test(status_names_and_texts),
    cmocka_unit_test(clock_formats_rfc3339),
    cmocka_unit_test(lines_reader_numbers_lines_and_strips_crlf),
    cmocka_unit_test(lines_reader_rejects_overlong_line_with_its_number),
    cmocka_unit_test(jsonl_reports_bad_lines_and_continues),
    cmocka_unit_test(atomic_file_leaves_old_content_on_abort),
};
BELT_TEST_MAIN(tests)
