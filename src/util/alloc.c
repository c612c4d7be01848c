/*
 * alloc.c — belt_malloc/belt_calloc/belt_realloc/belt_free: thin wrappers over libc that count
 * live allocations and can fail the n-th allocation on request (fault-injection tests, see
 * tests/unit/test_alloc.c). The counters are the process-wide state listed in src/global.c.
 */
#include "belt_config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"
#include "util/alloc.h"

static atomic_int counting;        /* 1: maintain n_live (tests); off by default so the
                                      hot path never writes a shared cache line */
static atomic_long n_live;         /* allocations minus frees (when counting) */
static atomic_long fail_countdown; /* >0: fail when it reaches 0; 0: off */
static atomic_int fail_sticky;     /* keep failing after the first injected failure */
static atomic_long n_injected;     /* failures injected so far */

/* Decide whether this allocation should fail (fault injection). */
static int should_fail(void)
{
    if (BELT_LIKELY(atomic_load_explicit(&fail_countdown, memory_order_relaxed) == 0))
        return 0;
    long left = atomic_fetch_sub(&fail_countdown, 1) - 1;
    if (left == 0) {
        if (atomic_load(&fail_sticky))
            atomic_store(&fail_countdown, 1); /* stays armed: every later call fails too */
        atomic_fetch_add(&n_injected, 1);
        return 1;
    }
    if (left < 0) {
        atomic_store(&fail_countdown, 0);
        return 0;
    }
    return 0;
}

void belt__alloc_fail_after(long n, int sticky)
{
    atomic_store(&fail_sticky, sticky ? 1 : 0);
    atomic_store(&n_injected, 0);
    atomic_store(&fail_countdown, n > 0 ? n : 0);
}

long belt__alloc_n_injected(void)
{
    return atomic_load(&n_injected);
}

void belt__alloc_set_counting(int on)
{
    atomic_store(&counting, on ? 1 : 0);
}

long belt__alloc_n_live(void)
{
    return atomic_load(&n_live);
}

static inline void count(long delta)
{
    if (BELT_UNLIKELY(atomic_load_explicit(&counting, memory_order_relaxed)))
        atomic_fetch_add_explicit(&n_live, delta, memory_order_relaxed);
}

void *belt_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        count(1);
    return p;
}

void *belt_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p)
        count(1);
    return p;
}

void *belt_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    void *q = realloc(p, size ? size : 1);
    if (q && !p)
        count(1);
    return q;
}

void belt_free(void *p)
{
    if (!p)
        return;
    count(-1);
    free(p);
}

char *belt_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = belt_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *belt_strdup(const char *s)
{
    return s ? belt_strndup(s, strlen(s)) : NULL;
}
