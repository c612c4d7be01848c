/*
 * sink.h — a belt_buf that remembers its first failure, so a renderer can append freely and
 * check once at the end (an out-of-memory in the middle never yields a truncated document).
 * Caller-embedded; not thread-safe.
 */
#ifndef BELT_ROUTE_SINK_H
#define BELT_ROUTE_SINK_H

#include <stdarg.h>
#include <stddef.h>

#include "belt.h"
#include "util/buf.h"

struct belt__sink {
    struct belt_buf b; /* the text */
    belt_status st;    /* first failure, BELT_OK while none */
};

static inline void belt__sink_init(struct belt__sink *s, size_t max)
{
    belt_buf_init(&s->b, max);
    s->st = BELT_OK;
}

static inline void out_puts(struct belt__sink *s, const char *str)
{
    if (s->st == BELT_OK)
        s->st = belt_buf_puts(&s->b, str);
}

static inline void out_putc(struct belt__sink *s, char c)
{
    if (s->st == BELT_OK)
        s->st = belt_buf_putc(&s->b, c);
}

static inline void out_json(struct belt__sink *s, const char *str, size_t n)
{
    if (s->st == BELT_OK)
        s->st = belt_buf_append_json_string(&s->b, str, n);
}

static inline void out_printf(struct belt__sink *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void out_printf(struct belt__sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (s->st == BELT_OK)
        s->st = belt_buf_vprintf(&s->b, fmt, ap);
    va_end(ap);
}

/* The text (caller frees with belt_free), or NULL after a failure (*st_out gets it). */
static inline char *belt__sink_finish(struct belt__sink *s, belt_status *st_out)
{
    if (st_out)
        *st_out = s->st;
    if (s->st != BELT_OK) {
        belt_buf_deinit(&s->b);
        return NULL;
    }
    return belt_buf_detach(&s->b, NULL);
}

#endif
