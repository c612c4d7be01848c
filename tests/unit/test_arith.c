/* Unit tests for src/route/arith.c: which stated calculations are checked and how, the results
 * kept, the task's unused numbers, number parsing, and robustness on arbitrary bytes. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "route/arith.h"

static struct belt__arith check(const char *s)
{
    struct belt__arith a;
    belt__arith_check(s, strlen(s), &a);
    return a;
}

/* s states `checked` calculations, `wrong` of which do not hold. */
static void expect(const char *s, int checked, int wrong)
{
    struct belt__arith a = check(s);
    if (a.checked != checked || a.wrong != wrong)
        fail_msg("'%s': %d checked, %d wrong (expected %d, %d)", s, a.checked, a.wrong, checked,
                 wrong);
}

static void arith_checks_inline_and_annotated_calculations(void **state)
{
    (void)state;
    struct belt__arith a = check("So in one session, he runs 3 x 60 = <<3*60=180>>180 meters.\n"
                                 "In a week, 180 x 3 = <<180*3=540>>540 meters.\n#### 540\n");
    /* two annotations, two inline calculations (the annotation is skipped in the line) */
    assert_int_equal(a.checked, 4);
    assert_int_equal(a.wrong, 0);
    assert_true(belt__arith_is_result(&a, 180));
    assert_true(belt__arith_is_result(&a, 540));
    assert_false(belt__arith_is_result(&a, 60));

    a = check("She pays 2 * 27 - 5 = $52 in all.");
    assert_int_equal(a.checked, 1);
    assert_int_equal(a.wrong, 1);
    assert_string_equal(a.first_wrong, "2 * 27 - 5 = $52 (is 49)");

    a = check("<<2*27-5=52>>");
    assert_int_equal(a.wrong, 1);
    assert_string_equal(a.first_wrong, "2*27-5=52 (is 49)");
}

static void arith_follows_precedence_chains_and_unicode(void **state)
{
    (void)state;
    /* precedence, parentheses, unary minus, a chain of equalities */
    expect("Total: 22 + 4 x 12 = 22 + 48 = 70", 2, 0);
    expect("(10 - 4) / 3 = 2 and -3 + 5 = 2", 2, 0);
    expect("8 - 2 - 1 = 5 and 12 / 2 / 3 = 2", 2, 0); /* left-associative */
    /* × ÷ − in UTF-8 */
    expect("6 \xC3\x97 7 = 42, 42 \xC3\xB7 6 = 7, 7 \xE2\x88\x92 2 = 5", 3, 0);
    expect("6 \xC3\x97 7 = 41", 1, 1);
    /* thousands separators and dollars; cents within the tolerance; 0.1% relative */
    expect("$1,250.50 + $49.50 = $1,300 and 10 / 3 = 3.33 and 2000 / 3 = 666.7", 3, 0);
    expect("10 / 3 = 3.3", 1, 1);
}

static void arith_leaves_prose_alone(void **state)
{
    (void)state;
    /* percentages, lone numbers, variables, words between numbers, unbalanced or empty sides:
     * nothing to check */
    const char *prose[] = {
        "20% of 50 = 10",
        "80 / 100 = 80%",
        "D = 56",
        "Step 2 = 7",
        "3/4 * x = 12",
        "3 apples x 2 = 6 apples? no: 3 apples = 6",
        "(3 + 4 = 7",
        "a = b = c",
        "x = 5 x",
        "5 / 0 = 1",
        "= 5",
        "4 =",
        "",
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(prose); i++) {
        struct belt__arith a = check(prose[i]);
        if (a.wrong)
            fail_msg("'%s' was checked: %s", prose[i], a.first_wrong);
    }
    /* "(3 + 4 = 7" is not checked, but "3 + 4 = 7" after a stray parenthesis is */
    assert_int_equal(check("so) 3 + 4 = 7").checked, 1);
    /* a line break ends an expression: "3 +" / "4 = 7" is a lone-number side only */
    assert_int_equal(check("3 +\n4 = 7").checked, 0);
    /* a lone result still counts as stated when its left side is a calculation */
    struct belt__arith a = check("so 80 / 100 * 20 = 16 pies");
    assert_int_equal(a.checked, 1);
    assert_true(belt__arith_is_result(&a, 16));
}

static void arith_finds_unused_task_numbers(void **state)
{
    (void)state;
    const char *task = "Tom has 3 boxes of 12 pens and gives away 5. How many pens are left? "
                       "(He had 3 boxes.)";
    const char *good = "3 x 12 = 36 pens; 36 - 5 = 31.\n#### 31";
    const char *bad = "3 x 12 = 36 pens.\n#### 36";
    char first[40];
    struct belt__arith a;
    belt__arith_check(good, strlen(good), &a);
    assert_int_equal(
        belt__arith_unused(task, strlen(task), good, strlen(good), &a, first, sizeof(first)), 0);
    assert_string_equal(first, "");
    belt__arith_check(bad, strlen(bad), &a);
    /* 5 is never used (3 counts once) */
    assert_int_equal(
        belt__arith_unused(task, strlen(task), bad, strlen(bad), &a, first, sizeof(first)), 1);
    assert_string_equal(first, "5");
    /* numbers inside calculator annotations count as used */
    const char *noted = "<<3*12=36>>36 and <<36-5=31>>31";
    belt__arith_check(noted, strlen(noted), &a);
    assert_int_equal(
        belt__arith_unused(task, strlen(task), noted, strlen(noted), &a, first, sizeof(first)), 0);
    assert_int_equal(belt__arith_unused(NULL, 0, good, strlen(good), NULL, first, sizeof(first)),
                     0);
}

static void arith_parses_final_numbers(void **state)
{
    (void)state;
    double v = 0;
    assert_true(belt__arith_number(" $1,250 ", 8, &v));
    assert_true(v == 1250);
    assert_true(belt__arith_number("-3.5", 4, &v));
    assert_true(v == -3.5);
    assert_false(belt__arith_number("12 pens", 7, &v));
    assert_false(belt__arith_number("", 0, &v));
    assert_false(belt__arith_number("$", 1, &v));
    assert_false(belt__arith_number("1,2", 3, &v));
}

static void arith_survives_random_bytes(void **state)
{
    (void)state;
    /* arbitrary bytes, deep parentheses, very long lines: no crash, no overrun (ASan) */
    char buf[4096];
    unsigned x = 12345;
    const char alphabet[] = "0123456789+-*/()=x $,.%<>\n\xC3\x97\xE2\x88\x92"
                            "a";
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(round * 13) % sizeof(buf);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
        }
        struct belt__arith a;
        belt__arith_check(buf, n, &a);
        assert_true(a.wrong <= a.checked);
        assert_true(a.n_results <= BELT__ARITH_MAX_RESULTS);
        char first[8];
        belt__arith_unused(buf, n / 2, buf + n / 2, n - n / 2, &a, first, sizeof(first));
    }
    memset(buf, '(', 2000);
    memcpy(buf + 2000, "1=1", 3);
    struct belt__arith a;
    belt__arith_check(buf, 2003, &a);
    assert_int_equal(a.wrong, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(arith_checks_inline_and_annotated_calculations),
    cmocka_unit_test(arith_follows_precedence_chains_and_unicode),
    cmocka_unit_test(arith_leaves_prose_alone),
    cmocka_unit_test(arith_finds_unused_task_numbers),
    cmocka_unit_test(arith_parses_final_numbers),
    cmocka_unit_test(arith_survives_random_bytes),
};

BELT_TEST_MAIN(tests)
