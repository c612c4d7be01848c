/*
 * utf8.h — UTF-8 validation and decoding. Depends on libc only.
 */
#ifndef BELT_UTIL_UTF8_H
#define BELT_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF);
 * else 0 and *bad_off (may be NULL) = offset of the first bad byte. */
int belt_utf8_valid(const char *s, size_t n, size_t *bad_off);
/* Decode one code point at s[*i] (advancing *i); returns -1 on a malformed sequence (and
 * advances by one byte). */
int32_t belt_utf8_next(const char *s, size_t n, size_t *i);
/* Encode cp into out (4 bytes room); returns the byte count (0 for an invalid code point). */
size_t belt_utf8_encode(int32_t cp, char *out);

#endif
