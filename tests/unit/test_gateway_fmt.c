/*
 * test_gateway_fmt.c — the printf-free formatting of the request path (src/engine/fmt.h):
 * integers, fixed-point costs and HTTP dates, each checked against the C library on many
 * values.
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/fmt.h"
#include "util/rng.h"

static void fmt_i64_matches_printf(void **state)
{
    (void)state;
    static const int64_t fixed[] = {
        0, 1, -1, 9, 10, -10, 99, 100, INT64_MAX, INT64_MIN, 123456789012345678LL};
    struct belt_rng rng;
    belt_rng_seed(&rng, 7);
    for (size_t i = 0; i < 20000; i++) {
        int64_t v = i < BELT_ARRAY_LEN(fixed) ? fixed[i] : (int64_t)belt_rng_next(&rng) >> (i % 63);
        char a[BELT__FMT_I64_MAX], b[32];
        size_t n = belt__fmt_i64(a, v);
        snprintf(b, sizeof(b), "%lld", (long long)v);
        assert_string_equal(a, b);
        assert_int_equal(n, strlen(b));
    }
}

static void fmt_fixed_matches_printf_or_declines(void **state)
{
    (void)state;
    struct belt_rng rng;
    belt_rng_seed(&rng, 11);
    size_t fast = 0, total = 0;
    for (size_t i = 0; i < 100000; i++) {
        double u = belt_rng_uniform(&rng);
        double v = i % 4 == 0   ? u * 10
                   : i % 4 == 1 ? (double)(int)(u * 100000) * 1e-8 /* exact ticks */
                   : i % 4 == 2 ? (double)(int)(u * 1e6) * 0.15 / 1e6 + 0.6e-6 * (double)(i % 97)
                                : -u;
        for (int d = 0; d <= 9; d++) {
            char a[32], b[64];
            size_t n = belt__fmt_fixed(a, v, d);
            snprintf(b, sizeof(b), "%.*f", d, v);
            total++;
            if (!n)
                continue;
            fast++;
            if (strcmp(a, b) != 0)
                fail_msg("%.17g with %d decimals: %s, printf %s", v, d, a, b);
            assert_int_equal(n, strlen(b));
        }
    }
    assert_true(fast * 10 > total * 9); /* the fast path is the common one */
    char a[32];
    assert_int_equal(belt__fmt_fixed(a, 1e12, 8), 0);  /* too large: declined */
    assert_int_equal(belt__fmt_fixed(a, 0.125, 2), 0); /* an exact tie: declined */
    assert_int_equal(belt__fmt_fixed(a, NAN, 2), 0);
    assert_int_equal(belt__fmt_fixed(a, 0.00000495, 8), 10);
    assert_string_equal(a, "0.00000495");
}

static void fmt_http_date_matches_strftime(void **state)
{
    (void)state;
    struct belt_rng rng;
    belt_rng_seed(&rng, 13);
    for (size_t i = 0; i < 200000; i++) {
        int64_t t = i < 100000 ? (int64_t)i * 86399 / 7
                               : (int64_t)(belt_rng_uniform(&rng) * 253402300799.0);
        char a[30], b[64];
        belt__fmt_http_date(t, a);
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        snprintf(b, sizeof(b), "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday], tm.tm_mday,
                 mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (strcmp(a, b) != 0)
            fail_msg("t=%lld: %s, expected %s", (long long)t, a, b);
    }
    char a[30];
    belt__fmt_http_date(784111777, a);
    assert_string_equal(a, "Sun, 06 Nov 1994 08:49:37 GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fmt_i64_matches_printf),
        cmocka_unit_test(fmt_fixed_matches_printf_or_declines),
        cmocka_unit_test(fmt_http_date_matches_strftime),
    };
    return belt_test_run(__FILE__, tests, BELT_ARRAY_LEN(tests));
}
