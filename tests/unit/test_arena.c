/* Unit tests for src/util/arena.c. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>

#include "util/arena.h"

static void arena_allocations_are_aligned_and_distinct(void **state)
{
    (void)state;
    struct belt_arena a;
    belt_arena_init(&a, 256, 0);
    char *prev = NULL;
    for (int i = 1; i < 200; i++) {
        char *p = belt_arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_true(p != prev);
        memset(p, 0xAB, (size_t)(i % 37) + 1);
        prev = p;
    }
    char *big = belt_arena_alloc(&a, 10000);
    assert_non_null(big);
    memset(big, 1, 10000);
    belt_arena_deinit(&a);
}

static void arena_respects_its_limit(void **state)
{
    (void)state;
    struct belt_arena a;
    belt_arena_init(&a, 1024, 4096);
    int n = 0;
    while (belt_arena_alloc(&a, 512) && n < 100)
        n++;
    assert_true(n >= 3);
    assert_true(n < 8);
    assert_true(a.total <= 4096);
    belt_arena_deinit(&a);
}

static void arena_strings_and_reset(void **state)
{
    (void)state;
    struct belt_arena a;
    belt_arena_init(&a, 0, 0);
    char *s = belt_arena_printf(&a, "%s-%d", "req", 7);
    assert_string_equal(s, "req-7");
    assert_string_equal(belt_arena_strndup(&a, "abcdef", 3), "abc");
    belt_arena_alloc(&a, 100000);
    belt_arena_reset(&a);
    assert_non_null(a.head);
    assert_true(a.total < 4096 + 256); /* only the first block is kept */
    assert_string_equal(belt_arena_strdup(&a, "again"), "again");
    belt_arena_deinit(&a);
    belt_arena_deinit(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(arena_allocations_are_aligned_and_distinct),
    cmocka_unit_test(arena_respects_its_limit),
    cmocka_unit_test(arena_strings_and_reset),
};
BELT_TEST_MAIN(tests)
