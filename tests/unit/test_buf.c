/* Unit tests for src/util/buf.c: bounded growth, formatting, JSON escaping, detach. */
#include "testutil.h"

#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"

static void buf_appends_and_stays_nul_terminated(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    assert_string_equal(belt_buf_cstr(&b), "");
    BELT_ASSERT_OK(belt_buf_puts(&b, "hello"));
    BELT_ASSERT_OK(belt_buf_putc(&b, ' '));
    BELT_ASSERT_OK(belt_buf_printf(&b, "%d-%s", 42, "x"));
    assert_string_equal(belt_buf_cstr(&b), "hello 42-x");
    assert_int_equal(b.len, 10);
    belt_buf_deinit(&b);
}

static void buf_refuses_growth_past_max(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 8);
    BELT_ASSERT_OK(belt_buf_puts(&b, "12345678"));
    BELT_ASSERT_STATUS(belt_buf_putc(&b, '9'), BELT_ERR_TOOBIG);
    assert_string_equal(belt_buf_cstr(&b), "12345678");
    BELT_ASSERT_STATUS(belt_buf_printf(&b, "%s", "more"), BELT_ERR_TOOBIG);
    belt_buf_deinit(&b);
}

static void buf_printf_handles_long_output(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    BELT_ASSERT_OK(belt_buf_printf(&b, "[%s]", big));
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '[');
    assert_int_equal(b.data[1000], ']');
    belt_buf_deinit(&b);
}

static void buf_escapes_json_strings(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    const char in[] = "a\"b\\c\nd\x01\xc3\xa9";
    BELT_ASSERT_OK(belt_buf_append_json_string(&b, in, sizeof(in) - 1));
    assert_string_equal(belt_buf_cstr(&b), "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
    belt_buf_deinit(&b);
}

static void buf_detach_transfers_ownership(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    char *empty = belt_buf_detach(&b, NULL);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    belt_free(empty);
    BELT_ASSERT_OK(belt_buf_puts(&b, "abc"));
    size_t n = 0;
    char *p = belt_buf_detach(&b, &n);
    assert_int_equal(n, 3);
    assert_string_equal(p, "abc");
    assert_null(b.data);
    belt_free(p);
    belt_buf_deinit(&b);
}

static void buf_reports_nomem_when_allocation_fails(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt__alloc_fail_after(1, 0);
    BELT_ASSERT_STATUS(belt_buf_puts(&b, "x"), BELT_ERR_NOMEM);
    belt__alloc_fail_after(0, 0);
    BELT_ASSERT_OK(belt_buf_puts(&b, "x"));
    belt_buf_deinit(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(buf_appends_and_stays_nul_terminated),
    cmocka_unit_test(buf_refuses_growth_past_max),
    cmocka_unit_test(buf_printf_handles_long_output),
    cmocka_unit_test(buf_escapes_json_strings),
    cmocka_unit_test(buf_detach_transfers_ownership),
    cmocka_unit_test(buf_reports_nomem_when_allocation_fails),
};
BELT_TEST_MAIN(tests)
