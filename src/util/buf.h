/*
 * buf.h — bounded growable byte buffer (curl's dynbuf idea): every buffer has a maximum length
 * and appends past it fail with BELT_ERR_TOOBIG instead of growing without bound.
 * The data is always NUL-terminated after a successful append, so it can be read as a C string.
 * Caller-embedded value: belt_buf_init() / belt_buf_deinit(). Not thread-safe.
 */
#ifndef BELT_UTIL_BUF_H
#define BELT_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "belt.h"

struct belt_buf {
    char *data; /* NULL until the first append; owned */
    size_t len; /* bytes used (excluding the trailing NUL) */
    size_t cap; /* bytes allocated */
    size_t max; /* maximum len; appends beyond fail with BELT_ERR_TOOBIG */
};

#define BELT_BUF_DEFAULT_MAX ((size_t)1 << 30)

/* Initialise an empty buffer whose length may not exceed max (0: BELT_BUF_DEFAULT_MAX). */
void belt_buf_init(struct belt_buf *b, size_t max);
/* Release the memory; the buffer may be initialised again. NULL is a no-op. */
void belt_buf_deinit(struct belt_buf *b);
/* Forget the contents, keep the allocation. */
void belt_buf_reset(struct belt_buf *b);
/* Make room for `extra` more bytes (plus the NUL). */
belt_status belt_buf_reserve(struct belt_buf *b, size_t extra);
belt_status belt_buf_append(struct belt_buf *b, const void *p, size_t n);
belt_status belt_buf_puts(struct belt_buf *b, const char *s);
belt_status belt_buf_putc(struct belt_buf *b, char c);
belt_status belt_buf_printf(struct belt_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
belt_status belt_buf_vprintf(struct belt_buf *b, const char *fmt, va_list ap);
/* Append s[0..n) as a JSON string literal, quotes included (control characters escaped;
 * UTF-8 passes through). */
belt_status belt_buf_append_json_string(struct belt_buf *b, const char *s, size_t n);
/* The contents as a C string ("" for an empty buffer); borrowed until the next append. */
const char *belt_buf_cstr(const struct belt_buf *b);
/* Hand the data to the caller (free with belt_free; never NULL on success — an empty buffer
 * yields ""), leaving the buffer empty. *len_out may be NULL. */
char *belt_buf_detach(struct belt_buf *b, size_t *len_out);

#endif
