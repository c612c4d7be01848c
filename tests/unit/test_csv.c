/* Unit tests for src/util/csv.c: RFC 4180 parsing, line numbers, bad records reported and
 * skipped, number inference, options, limits and allocation failures. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/csv.h"
#include "util/json.h"

static char dir[256];
static char path[300];

static int setup(void **state)
{
    (void)state;
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    belt_test_rmrf(dir);
    return 0;
}

static void write_bytes(const char *content, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, n, fp), n);
    fclose(fp);
}

/* Read every record of `content`; good records as compact JSON lines ("LINE:{...}") and errors
 * as "LINE! message" lines, into out. */
static void read_all(const char *content, const struct belt_csv_params *p, struct belt_buf *out)
{
    write_bytes(content, strlen(content));
    struct belt_csv_reader *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_csv_open(path, p, &r, &err), &err);
    for (int guard = 0; guard < 1000; guard++) {
        json_t *rec = NULL;
        belt_status st = belt_csv_next(r, &rec, &err);
        if (st == BELT_ERR_FORMAT) {
            const char *m = strstr(err.msg, "in.csv:");
            belt_buf_printf(out, "%lld! %s\n", (long long)belt_csv_lineno(r), m ? m : err.msg);
            continue;
        }
        BELT_ASSERT_OK_ERR(st, &err);
        if (!rec)
            break;
        char *js = belt_json_dumps(rec, JSON_COMPACT);
        belt_buf_printf(out, "%lld:%s\n", (long long)belt_csv_lineno(r), js);
        belt_free(js);
        json_decref(rec);
    }
    belt_csv_close(r);
}

static void expect(const char *content, const struct belt_csv_params *p, const char *want)
{
    struct belt_buf out;
    belt_buf_init(&out, 0);
    read_all(content, p, &out);
    if (strcmp(belt_buf_cstr(&out), want) != 0)
        fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", content, belt_buf_cstr(&out), want);
    belt_buf_deinit(&out);
}

static void csv_reads_header_and_records(void **state)
{
    (void)state;
    expect("id,name,amount\n1,Ana,10.5\n2,Bo,7\n", NULL,
           "2:{\"id\":\"1\",\"name\":\"Ana\",\"amount\":\"10.5\"}\n"
           "3:{\"id\":\"2\",\"name\":\"Bo\",\"amount\":\"7\"}\n");
}

static void csv_quoted_fields_hold_delimiters_and_quotes(void **state)
{
    (void)state;
    expect("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"\",\"\"\"\"\n", NULL,
           "2:{\"a\":\"x, y\",\"b\":\"say \\\"hi\\\"\"}\n"
           "3:{\"a\":\"\",\"b\":\"\\\"\"}\n");
}

static void csv_line_breaks_inside_quotes_span_lines(void **state)
{
    (void)state;
    expect("id,text\n1,\"line one\nline two\n\"\n2,after\n", NULL,
           "2:{\"id\":\"1\",\"text\":\"line one\\nline two\\n\"}\n"
           "5:{\"id\":\"2\",\"text\":\"after\"}\n");
    expect("id,text\r\n1,\"a\r\nb\"\r\n2,c\r\n", NULL,
           "2:{\"id\":\"1\",\"text\":\"a\\r\\nb\"}\n"
           "4:{\"id\":\"2\",\"text\":\"c\"}\n");
}

static void csv_skips_bom_and_blank_lines(void **state)
{
    (void)state;
    expect("\xEF\xBB\xBFid,v\n\n1,a\n\n\n2,b", NULL,
           "3:{\"id\":\"1\",\"v\":\"a\"}\n"
           "6:{\"id\":\"2\",\"v\":\"b\"}\n");
}

static void csv_keeps_empty_fields(void **state)
{
    (void)state;
    expect("a,b,c\n,,\nx,,\n", NULL,
           "2:{\"a\":\"\",\"b\":\"\",\"c\":\"\"}\n"
           "3:{\"a\":\"x\",\"b\":\"\",\"c\":\"\"}\n");
}

static void csv_bare_quote_in_unquoted_field_is_literal(void **state)
{
    (void)state;
    expect("a,b\n5\" screen,x\"y\n", NULL, "2:{\"a\":\"5\\\" screen\",\"b\":\"x\\\"y\"}\n");
}

static void csv_text_after_closing_quote_is_an_error_and_reading_goes_on(void **state)
{
    (void)state;
    expect("a,b\n1,\"x\"y\n2,ok\n", NULL,
           "2! in.csv:2: column 6: unexpected character 'y' after the closing quote of field 2 "
           "(a quote inside a quoted field must be doubled: \"\")\n"
           "3:{\"a\":\"2\",\"b\":\"ok\"}\n");
}

static void csv_wrong_field_count_names_the_line_and_reading_goes_on(void **state)
{
    (void)state;
    expect("a,b,c\n1,2\n1,2,3,4\n1,2,3\n", NULL,
           "2! in.csv:2: 2 fields, expected 3\n"
           "3! in.csv:3: 4 fields, expected 3\n"
           "4:{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}\n");
}

static void csv_unterminated_quote_resumes_after_its_line(void **state)
{
    (void)state;
    expect("a,b\n1,\"never closed\n2,two\n3,three\n", NULL,
           "2! in.csv:2: unterminated quoted field: field 2 never closes\n"
           "3:{\"a\":\"2\",\"b\":\"two\"}\n"
           "4:{\"a\":\"3\",\"b\":\"three\"}\n");
}

static void csv_overlong_record_is_skipped(void **state)
{
    (void)state;
    struct belt_csv_params p = belt_csv_default_params();
    p.max_record = 16;
    expect("a,b\n1,\"this quoted field is far too long\"\n2,ok\n", &p,
           "2! in.csv:2: record longer than 16 bytes (an unterminated quote?)\n"
           "3:{\"a\":\"2\",\"b\":\"ok\"}\n");
    char big[200000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "a\n", 2);
    memcpy(big + sizeof(big) - 5, "\nok\n", 4);
    big[sizeof(big) - 1] = '\0';
    struct belt_buf out;
    belt_buf_init(&out, 0);
    read_all(big, &p, &out);
    assert_string_equal(belt_buf_cstr(&out), "2! in.csv:2: record longer than 16 bytes\n"
                                             "3:{\"a\":\"ok\"}\n");
    belt_buf_deinit(&out);
}

static void csv_infers_numbers_only_when_asked(void **state)
{
    (void)state;
    struct belt_csv_params p = belt_csv_default_params();
    p.infer_numbers = 1;
    expect("a,b,c,d,e,f\n12,-1.5,\"7\",007,1e3,12abc\n", &p,
           "2:{\"a\":12,\"b\":-1.5,\"c\":\"7\",\"d\":\"007\",\"e\":1000.0,\"f\":\"12abc\"}\n");
    expect("a\n99999999999999999999\n", &p, "2:{\"a\":1e20}\n");
}

static void csv_without_header_names_columns(void **state)
{
    (void)state;
    struct belt_csv_params p = belt_csv_default_params();
    p.header = 0;
    expect("x,y\n1,2\n", &p,
           "1:{\"col1\":\"x\",\"col2\":\"y\"}\n2:{\"col1\":\"1\",\"col2\":\"2\"}\n");
}

static void csv_ragged_records_omit_missing_keys(void **state)
{
    (void)state;
    struct belt_csv_params p = belt_csv_default_params();
    p.allow_ragged = 1;
    expect("a,b,c\n1\n1,2,3,4\n", &p, "2:{\"a\":\"1\"}\n3! in.csv:3: 4 fields, expected 3\n");
}

static void csv_other_delimiters(void **state)
{
    (void)state;
    struct belt_csv_params p = belt_csv_default_params();
    p.delimiter = '\t';
    expect("a\tb\n\"x\ty\"\tz,w\n", &p, "2:{\"a\":\"x\\ty\",\"b\":\"z,w\"}\n");
    p.delimiter = ';';
    expect("a;b\n1,5;2\n", &p, "2:{\"a\":\"1,5\",\"b\":\"2\"}\n");
}

static void csv_invalid_utf8_is_reported_with_the_field(void **state)
{
    (void)state;
    expect("a,b\nok,\xff\xfe\n2,3\n", NULL,
           "2! in.csv:2: field 2 (b): invalid UTF-8 at byte 1\n3:{\"a\":\"2\",\"b\":\"3\"}\n");
}

static void csv_header_problems_fail_open(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"a,b,a\n1,2,3\n", "in.csv:1: columns 1 and 3 have the same name \"a\""},
        {"a,,c\n", "in.csv:1: column 2 has an empty name"},
        {"a,\"b\nc\n", "in.csv:1: unterminated quoted field"},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        write_bytes(cases[i][0], strlen(cases[i][0]));
        struct belt_csv_reader *r = NULL;
        struct belt_error err = {0};
        BELT_ASSERT_STATUS(belt_csv_open(path, NULL, &r, &err), BELT_ERR_FORMAT);
        assert_null(r);
        BELT_ASSERT_CONTAINS(err.msg, "header: ");
        BELT_ASSERT_CONTAINS(err.msg, cases[i][1]);
    }
}

static void csv_empty_file_has_no_records(void **state)
{
    (void)state;
    expect("", NULL, "");
    expect("\n\n", NULL, "");
    expect("a,b\n", NULL, "");
}

static void csv_reports_missing_file(void **state)
{
    (void)state;
    struct belt_csv_reader *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_csv_open("/nonexistent/x.csv", NULL, &r, &err), BELT_ERR_NOTFOUND);
    BELT_ASSERT_CONTAINS(err.msg, "/nonexistent/x.csv");
}

static void csv_offset_points_after_the_last_record(void **state)
{
    (void)state;
    const char *content = "a\n1\n\"2\n2\"\n3\n";
    write_bytes(content, strlen(content));
    struct belt_csv_reader *r = NULL;
    BELT_ASSERT_OK(belt_csv_open(path, NULL, &r, NULL));
    assert_int_equal(belt_csv_offset(r), 2);
    json_t *rec = NULL;
    BELT_ASSERT_OK(belt_csv_next(r, &rec, NULL));
    json_decref(rec);
    assert_int_equal(belt_csv_offset(r), 4);
    BELT_ASSERT_OK(belt_csv_next(r, &rec, NULL));
    json_decref(rec);
    assert_int_equal(belt_csv_offset(r), 10);
    assert_int_equal(belt_csv_n_columns(r), 1);
    assert_string_equal(belt_csv_column(r, 0), "a");
    assert_null(belt_csv_column(r, 1));
    belt_csv_close(r);
}

static void csv_survives_every_allocation_failure(void **state)
{
    (void)state;
    const char *content = "id,text,n\n1,\"a, \"\"b\"\"\nc\",2\n3,x,4\n";
    write_bytes(content, strlen(content));
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 300 && !completed; n++) {
        struct belt_csv_reader *r = NULL;
        struct belt_error err = {0};
        int records = 0;
        belt__alloc_fail_after(n, 1);
        belt_status st = belt_csv_open(path, NULL, &r, &err);
        while (st == BELT_OK) {
            json_t *rec = NULL;
            st = belt_csv_next(r, &rec, &err);
            if (st != BELT_OK || !rec)
                break;
            records++;
            json_decref(rec);
        }
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        belt_csv_close(r);
        if (st != BELT_OK && st != BELT_ERR_NOMEM)
            fail_msg("allocation %ld: unexpected %s: %s", n, belt_status_name(st), err.msg);
        completed = st == BELT_OK && injected == 0;
        if (completed)
            assert_int_equal(records, 2);
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static const struct CMUnitTest tests[] = {
    T(csv_reads_header_and_records),
    T(csv_quoted_fields_hold_delimiters_and_quotes),
    T(csv_line_breaks_inside_quotes_span_lines),
    T(csv_skips_bom_and_blank_lines),
    T(csv_keeps_empty_fields),
    T(csv_bare_quote_in_unquoted_field_is_literal),
    T(csv_text_after_closing_quote_is_an_error_and_reading_goes_on),
    T(csv_wrong_field_count_names_the_line_and_reading_goes_on),
    T(csv_unterminated_quote_resumes_after_its_line),
    T(csv_overlong_record_is_skipped),
    T(csv_infers_numbers_only_when_asked),
    T(csv_without_header_names_columns),
    T(csv_ragged_records_omit_missing_keys),
    T(csv_other_delimiters),
    T(csv_invalid_utf8_is_reported_with_the_field),
    T(csv_header_problems_fail_open),
    T(csv_empty_file_has_no_records),
    T(csv_reports_missing_file),
    T(csv_offset_points_after_the_last_record),
    T(csv_survives_every_allocation_failure),
};

BELT_TEST_MAIN(tests)
