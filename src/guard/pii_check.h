/*
 * pii_check.h — the checksum and format validators behind the PII detectors: Luhn (cards),
 * IBAN (per-country length/BBAN format + mod-97), ABA routing (3-7-1 weights), UK NHS (mod-11),
 * US SSN / ITIN ranges, bitcoin base58check and bech32/bech32m, and a top-level-domain check
 * for bare domain names. Pure functions over bytes; thread-safe; libc + libsodium only.
 */
#ifndef BELT_GUARD_PII_CHECK_H
#define BELT_GUARD_PII_CHECK_H

#include <stddef.h>

/* Copy the decimal digits of s[0..n) into out (room for cap-1 digits + NUL). Returns the digit
 * count, or 0 if there are more than cap-1 digits. Other bytes are skipped. */
size_t belt__pii_digits(const char *s, size_t n, char *out, size_t cap);
/* 1 if the digit string passes the Luhn check. */
int belt__pii_luhn(const char *digits, size_t n);
/* 1 if s[0..n) (spaces/dashes allowed between groups) is an IBAN: known country, that
 * country's length and BBAN character classes, and mod-97 == 1. */
int belt__pii_iban(const char *s, size_t n);
/* Length of the IBAN of the country at s[0..2), or 0 if unknown. */
size_t belt__pii_iban_len(const char *cc);
/* 1 if the 9 digits are a valid ABA routing number (prefix ranges and checksum). */
int belt__pii_aba(const char *d9);
/* 1 if the 10 digits pass the NHS mod-11 check. */
int belt__pii_nhs(const char *d10);
/* 1 if the 9 digits are a plausible US SSN: area not 000/666/9xx, group not 00, serial not
 * 0000, not all one digit, not a well-known sample number. */
int belt__pii_ssn(const char *d9);
/* 1 if the 9 digits are a valid US ITIN: 9xx and a group in 50-65, 70-88, 90-92 or 94-99. */
int belt__pii_itin(const char *d9);
/* 1 if s[0..n) is a base58check bitcoin address (version 0x00 or 0x05). */
int belt__pii_base58check(const char *s, size_t n);
/* 1 if s[0..n) is a bech32 (witness v0) or bech32m (v1+) address with hrp "bc" or "tb". */
int belt__pii_bech32(const char *s, size_t n);
/* 1 if the lower-case label is a known top-level domain (every two-letter country code and
 * the common generic ones). `strict` 1 accepts only generic TLDs and a curated country list. */
int belt__pii_tld(const char *label, size_t n, int strict);

#endif
