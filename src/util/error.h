/*
 * error.h — filling `struct belt_error` (public in belt.h). Depends on libc only.
 */
#ifndef BELT_UTIL_ERROR_H
#define BELT_UTIL_ERROR_H

#include "belt.h"

#if defined(__GNUC__)
#define BELT__ERR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define BELT__ERR_PRINTF(fmt, args)
#endif

/* Set err (may be NULL) to code/sub and a formatted message; returns code, so that
 * `return belt__error_set(err, BELT_ERR_INVALID, 0, "line %d: ...", n);` reads naturally. */
belt_status belt__error_set(struct belt_error *err, belt_status code, int sub, const char *fmt,
                            ...) BELT__ERR_PRINTF(4, 5);
/* Prepend context to an existing message ("reading x.jsonl: " + msg); keeps code and sub.
 * Returns err->code (BELT_OK if err is NULL). */
belt_status belt__error_prefix(struct belt_error *err, const char *fmt, ...)
    BELT__ERR_PRINTF(2, 3);
/* Set err to the status' generic text when the callee left no message. Returns code. */
belt_status belt__error_default(struct belt_error *err, belt_status code);

#endif
