/*
 * belt_config.h — feature-test macros and compiler attributes. First include of every .c in
 * src/ (before any system header), so every translation unit sees the same libc surface.
 */
#ifndef BELT_CONFIG_H
#define BELT_CONFIG_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* XSI: nftw, strptime */
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, le32toh and friends, strcasecmp */
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

#include <assert.h>

#if defined(__GNUC__)
#define BELT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define BELT_UNUSED            __attribute__((unused))
#define BELT_LIKELY(x)         __builtin_expect(!!(x), 1)
#define BELT_UNLIKELY(x)       __builtin_expect(!!(x), 0)
#define BELT_WARN_UNUSED       __attribute__((warn_unused_result))
#else
#define BELT_PRINTF(fmt, args)
#define BELT_UNUSED
#define BELT_LIKELY(x)   (x)
#define BELT_UNLIKELY(x) (x)
#define BELT_WARN_UNUSED
#endif

#define BELT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BELT_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define BELT_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* Defensive branches that "cannot happen" (SQLite's ALWAYS/NEVER): asserted in debug builds,
 * evaluated and passed through in release builds so the error path still runs. */
#ifdef NDEBUG
#define BELT_ALWAYS(x) (x)
#define BELT_NEVER(x)  (x)
#else
#define BELT_ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define BELT_NEVER(x)  ((x) ? (assert(0), 1) : 0)
#endif

#endif /* BELT_CONFIG_H */
