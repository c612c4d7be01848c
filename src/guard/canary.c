/*
 * canary.c — canary tokens for system-prompt leakage (OWASP LLM07). A canary is a random token
 * placed in a system prompt; finding it in an output proves the prompt leaked. Detection looks
 * for the token's random part in the output's letters and digits (so case changes, inserted
 * separators and zero-width characters do not hide it), reversed, and inside base64 / hex runs.
 */
#include "belt_config.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "util/error.h"

#define CANARY_PREFIX "belt-canary-"
#define CANARY_HEX    20

belt_status belt_canary_new(char *out, size_t cap, struct belt_error *err)
{
    if (cap < sizeof(CANARY_PREFIX) + CANARY_HEX)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "canary: buffer of %zu bytes is too small",
                               cap);
    unsigned char raw[CANARY_HEX / 2];
    char hex[CANARY_HEX + 1];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    snprintf(out, cap, "%s%s", CANARY_PREFIX, hex);
    return BELT_OK;
}

/* Lower-case ASCII letters and digits of s[0..n), in order (other bytes dropped). */
static size_t alnum_lower(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c | 0x20);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[k++] = c;
    }
    return k;
}

static int has(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return 0;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

/* The distinctive part of a canary: its letters and digits after the prefix (or all of them
 * for a caller-made token). */
static size_t canary_core(const char *canary, char *out, size_t cap)
{
    const char *c = canary;
    if (strncmp(c, CANARY_PREFIX, strlen(CANARY_PREFIX)) == 0)
        c += strlen(CANARY_PREFIX);
    return alnum_lower(c, strlen(c), out, cap);
}

/* Decode base64 and hex runs of text and look for the canary in them. */
static int in_encoded(const char *text, size_t len, const char *canary)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t cl = strlen(canary);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && (isalnum((unsigned char)text[j]) || strchr("+/=_-", text[j])))
            j++;
        if (j - i >= 16) {
            unsigned char dec[1024];
            size_t dn = 0;
            size_t run = BELT_MIN(j - i, (size_t)1360);
            for (size_t v = 0; v < BELT_ARRAY_LEN(variants); v++) {
                if (sodium_base642bin(dec, sizeof(dec), text + i, run, NULL, &dn, NULL,
                                      variants[v]) == 0 &&
                    has((const char *)dec, dn, canary, cl))
                    return 1;
            }
            if (sodium_hex2bin(dec, sizeof(dec), text + i, BELT_MIN(run, (size_t)2048), NULL, &dn,
                               NULL) == 0 &&
                has((const char *)dec, dn, canary, cl))
                return 1;
        }
        i = j + 1;
    }
    return 0;
}

int belt_canary_leaked(const char *canary, const char *text, size_t len)
{
    char core[64], rev[64];
    size_t cn = canary_core(canary, core, sizeof(core));
    if (cn < 8 || !text)
        return 0; /* too short to tell apart from ordinary text */
    for (size_t i = 0; i < cn; i++)
        rev[i] = core[cn - 1 - i];
    /* Letters and digits of the text in streaming windows (bounded memory for long outputs). */
    char win[4096 + 64];
    size_t keep = 0, i = 0;
    while (i < len) {
        size_t take = BELT_MIN(len - i, (size_t)4096);
        size_t k = alnum_lower(text + i, take, win + keep, sizeof(win) - keep);
        size_t n = keep + k;
        if (has(win, n, core, cn) || has(win, n, rev, cn))
            return 1;
        keep = BELT_MIN(n, cn - 1);
        memmove(win, win + n - keep, keep);
        i += take;
    }
    return in_encoded(text, len, canary);
}
