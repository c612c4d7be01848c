/*
 * alloc.h — internal side of the allocation wrappers (belt_malloc & co. are public in belt.h):
 * counters and fault injection for tests. Depends on libc only.
 */
#ifndef BELT_UTIL_ALLOC_H
#define BELT_UTIL_ALLOC_H

#include <stddef.h>

/* Make the n-th allocation from now fail (1 = the next one), and every one after it when
 * `sticky` is set; n <= 0 disables fault injection. Thread-safe (atomic). Tests only. */
void belt__alloc_fail_after(long n, int sticky);
/* Number of allocations that failed because of fault injection since the last reset. */
long belt__alloc_n_injected(void);
/* Turn live-allocation counting on or off (off by default: counting costs a shared atomic
 * write per call). The unit-test runner turns it on at start. */
void belt__alloc_set_counting(int on);
/* Live allocation count (allocations minus frees) through the wrappers, while counting. */
long belt__alloc_n_live(void);

#endif
