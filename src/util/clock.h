/*
 * clock.h — time: monotonic microseconds for latencies, wall-clock milliseconds for records,
 * and RFC 3339 formatting. Depends on libc only.
 */
#ifndef BELT_UTIL_CLOCK_H
#define BELT_UTIL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in µs (CLOCK_MONOTONIC); for durations only. */
int64_t belt_now_us(void);
/* Wall clock: Unix time in ms (CLOCK_REALTIME). */
int64_t belt_wall_ms(void);
/* Format Unix ms as "2026-11-28T14:30:05.123Z" into out (at least 32 bytes). */
void belt_format_rfc3339(int64_t unix_ms, char *out, size_t cap);
/* Sleep for ms milliseconds (restarts on EINTR). */
void belt_sleep_ms(int64_t ms);

#endif
