/*
 * arena.h — region allocator for everything scoped to one request or one item (h2o's mem pool):
 * many small allocations, one release. Blocks are malloc'd lazily; a hard limit bounds the
 * total. Long-lived objects must never point into an arena. Caller-embedded value:
 * belt_arena_init() / belt_arena_deinit(). Not thread-safe.
 */
#ifndef BELT_UTIL_ARENA_H
#define BELT_UTIL_ARENA_H

#include <stddef.h>

struct belt_arena_block;

struct belt_arena {
    struct belt_arena_block *head; /* current block (most recent first); owned */
    size_t block_size;             /* size of ordinary blocks */
    size_t total;                  /* bytes allocated from the system so far */
    size_t max;                    /* limit on total; allocations beyond it fail */
};

/* block_size 0: 4096; max 0: unlimited (SIZE_MAX). */
void belt_arena_init(struct belt_arena *a, size_t block_size, size_t max);
/* Release every block. NULL is a no-op; the arena may be initialised again. */
void belt_arena_deinit(struct belt_arena *a);
/* Release all blocks but the first, and forget every allocation (cheap reuse per request). */
void belt_arena_reset(struct belt_arena *a);
/* n bytes aligned to 16, uninitialised; NULL when out of memory or past the limit. */
void *belt_arena_alloc(struct belt_arena *a, size_t n);
void *belt_arena_calloc(struct belt_arena *a, size_t n);
char *belt_arena_strndup(struct belt_arena *a, const char *s, size_t n);
char *belt_arena_strdup(struct belt_arena *a, const char *s);
char *belt_arena_printf(struct belt_arena *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
