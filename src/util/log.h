/*
 * log.h — library logging. Lines go to the callback installed by belt_global_init(); with none
 * installed they are dropped. The library never writes to stdout/stderr itself.
 */
#ifndef BELT_UTIL_LOG_H
#define BELT_UTIL_LOG_H

#include "belt.h"

#if defined(__GNUC__)
#define BELT__LOG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define BELT__LOG_PRINTF(fmt, args)
#endif

/* Format and emit one log line at `level` (thread-safe; never fails visibly). */
void belt__log(enum belt_log_level level, const char *fmt, ...) BELT__LOG_PRINTF(2, 3);
/* Whether a line at `level` would be emitted (skip expensive formatting otherwise). */
int belt__log_enabled(enum belt_log_level level);
/* Installed by belt_global_init() (src/global.c). */
void belt__log_install(belt_log_fn *fn, void *ud, enum belt_log_level level);

#define BELT_LOG_D(...) belt__log(BELT_LOG_DEBUG, __VA_ARGS__)
#define BELT_LOG_I(...) belt__log(BELT_LOG_INFO, __VA_ARGS__)
#define BELT_LOG_W(...) belt__log(BELT_LOG_WARN, __VA_ARGS__)
#define BELT_LOG_E(...) belt__log(BELT_LOG_ERROR, __VA_ARGS__)

#endif
