/*
 * arena.c — region allocator; see arena.h. Blocks form a singly linked list, newest first;
 * oversized requests get a block of their own linked behind the current one so the current
 * block keeps serving small allocations.
 */
#include "belt_config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "util/arena.h"

#define ARENA_ALIGN 16

struct belt_arena_block {
    struct belt_arena_block *next; /* older block */
    size_t size;                   /* usable bytes in data[] */
    size_t used;                   /* bytes handed out */
    _Alignas(16) unsigned char data[];
};

void belt_arena_init(struct belt_arena *a, size_t block_size, size_t max)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 4096;
    a->total = 0;
    a->max = max ? max : SIZE_MAX;
}

void belt_arena_deinit(struct belt_arena *a)
{
    if (!a)
        return;
    struct belt_arena_block *b = a->head;
    while (b) {
        struct belt_arena_block *next = b->next;
        belt_free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

void belt_arena_reset(struct belt_arena *a)
{
    if (!a->head)
        return;
    struct belt_arena_block *keep = a->head;
    struct belt_arena_block *b = keep->next;
    while (b) {
        struct belt_arena_block *next = b->next;
        a->total -= sizeof(*b) + b->size;
        belt_free(b);
        b = next;
    }
    keep->next = NULL;
    keep->used = 0;
}

static struct belt_arena_block *new_block(struct belt_arena *a, size_t size)
{
    if (size > a->max || sizeof(struct belt_arena_block) + size > a->max - a->total)
        return NULL;
    struct belt_arena_block *b = belt_malloc(sizeof(*b) + size);
    if (!b)
        return NULL;
    b->size = size;
    b->used = 0;
    b->next = NULL;
    a->total += sizeof(*b) + size;
    return b;
}

void *belt_arena_alloc(struct belt_arena *a, size_t n)
{
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0)
        n = ARENA_ALIGN;
    struct belt_arena_block *h = a->head;
    if (h && h->size - h->used >= n) {
        void *p = h->data + h->used;
        h->used += n;
        return p;
    }
    if (n > a->block_size / 4) {
        /* Big request: its own block, behind the current one. */
        struct belt_arena_block *b = new_block(a, n);
        if (!b)
            return NULL;
        b->used = n;
        if (h) {
            b->next = h->next;
            h->next = b;
        } else {
            a->head = b;
        }
        return b->data;
    }
    struct belt_arena_block *b = new_block(a, a->block_size);
    if (!b)
        return NULL;
    b->next = h;
    a->head = b;
    b->used = n;
    return b->data;
}

void *belt_arena_calloc(struct belt_arena *a, size_t n)
{
    void *p = belt_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *belt_arena_strndup(struct belt_arena *a, const char *s, size_t n)
{
    char *d = belt_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *belt_arena_strdup(struct belt_arena *a, const char *s)
{
    return belt_arena_strndup(a, s, strlen(s));
}

char *belt_arena_printf(struct belt_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *d = belt_arena_alloc(a, (size_t)n + 1);
    if (!d)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}
