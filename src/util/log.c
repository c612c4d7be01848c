/*
 * log.c — formats log lines and hands them to the installed callback. The sink (callback,
 * user data, level) is set once by belt_global_init() before threads start and only read
 * afterwards; it is listed with the other process-wide state in src/global.c.
 */
#include "belt_config.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

static belt_log_fn *sink_fn;                    /* NULL: drop everything */
static void *sink_ud;                           /* passed to sink_fn */
static enum belt_log_level sink_level = BELT_LOG_INFO; /* minimum level emitted */

void belt__log_install(belt_log_fn *fn, void *ud, enum belt_log_level level)
{
    sink_fn = fn;
    sink_ud = ud;
    sink_level = level;
}

int belt__log_enabled(enum belt_log_level level)
{
    return sink_fn && level >= sink_level && level < BELT_LOG_OFF;
}

void belt__log(enum belt_log_level level, const char *fmt, ...)
{
    if (!belt__log_enabled(level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sink_fn(sink_ud, level, line);
}
