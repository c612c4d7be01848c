/*
 * str.h — string and number-parsing helpers with full error checks (the replacements for
 * atoi/strtok & co., which tools/check_src.sh bans). Depends on libc only.
 */
#ifndef BELT_UTIL_STR_H
#define BELT_UTIL_STR_H

#include <stddef.h>
#include <stdint.h>

/* Parse the whole of s as a base-10 integer / a finite double. Return 0 on success, -1 if s is
 * empty, has trailing garbage, or is out of range. */
int belt_parse_i64(const char *s, int64_t *out);
int belt_parse_double(const char *s, double *out);
/* Parse a duration: "250ms", "30s", "5m", "2h", "30d", or a bare number of milliseconds. */
int belt_parse_duration_ms(const char *s, int64_t *out);
/* ASCII-only helpers. */
int belt_str_starts_with(const char *s, const char *prefix);
int belt_str_ends_with(const char *s, const char *suffix);
int belt_str_eq_nocase(const char *a, const char *b);
/* Lower-case ASCII letters in place. */
void belt_str_lower_ascii(char *s, size_t n);
/* Trim ASCII whitespace at both ends: returns the start and sets *n_out to the trimmed length. */
const char *belt_str_trim(const char *s, size_t n, size_t *n_out);
/* Constant-time comparison of two byte strings of equal length n (secrets). */
int belt_str_ct_equal(const void *a, const void *b, size_t n);

#endif
