/*
 * jscan.c — strict JSON validation with field capture, no tree (see jscan.h). A recursive
 * descent over the bytes that follows jansson's rules: RFC 8259 grammar, UTF-8 checked
 * everywhere (no overlong forms, no surrogates, nothing above U+10FFFF), no control characters
 * in strings, \u escapes paired correctly and never \u0000, no duplicate object keys, integers
 * that fit int64 and reals that do not overflow, nothing after the value but whitespace.
 */
#include "belt_config.h"

#include <string.h>

#include "model/jscan.h"

/* Where a value sits in an OpenAI answer: decides what is captured. */
enum role { R_NONE, R_TOP, R_CHOICES, R_CHOICE0, R_MESSAGE, R_USAGE };

struct scan {
    const unsigned char *p, *end;
    int depth;
    struct belt__jslice keys[BELT__JSCAN_MAX_KEYS]; /* keys of the open objects */
    size_t n_keys;
    struct belt__jscan_answer *out;
};

static int value(struct scan *s, enum role role, struct belt__jslice *str_out, int64_t *int_out,
                 int *is_int);

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* Four hex digits at p (end bounds them) into *v; 0 when not. */
static int hex4(const unsigned char *p, const unsigned char *end, unsigned *v)
{
    if (end - p < 4)
        return 0;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return 0;
        x = x << 4 | (unsigned)h;
    }
    *v = x;
    return 1;
}

/* Length of the valid UTF-8 sequence of a non-ASCII lead byte at p, 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return n;
}

/* One escape after the backslash at *pp (pp points at the character after it). */
static int escape(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    if (p >= end)
        return 0;
    switch (*p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *pp = p + 1;
        return 1;
    case 'u':
        break;
    default:
        return 0;
    }
    unsigned v, w;
    if (!hex4(p + 1, end, &v) || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return 0;
    p += 5;
    if (v >= 0xD800 && v <= 0xDBFF) { /* a high surrogate needs its low half */
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &w) || w < 0xDC00 ||
            w > 0xDFFF)
            return 0;
        p += 6;
    }
    *pp = p;
    return 1;
}

/* A string at s->p (its opening quote). */
static int string(struct scan *s, struct belt__jslice *out)
{
    const unsigned char *p = s->p + 1, *start = p;
    int esc = 0;
    while (p < s->end) {
        unsigned c = *p;
        if (c == '"') {
            out->p = (const char *)start;
            out->n = (size_t)(p - start);
            out->esc = esc;
            s->p = p + 1;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            esc = 1;
            p++;
            if (!escape(&p, s->end))
                return 0;
        } else if (c < 0x80) {
            p++;
        } else {
            size_t k = utf8_seq(p, s->end);
            if (!k)
                return 0;
            p += k;
        }
    }
    return 0;
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number at s->p. Integers of up to 18 digits give *iv; longer ones, and reals whose decimal
 * exponent might pass 300 (overflow is an error in jansson), are left to jansson. */
static int number(struct scan *s, int64_t *iv, int *is_int)
{
    const unsigned char *p = s->p, *end = s->end;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const unsigned char *digits = p;
    if (p < end && *p == '0')
        p++;
    else if (is_digit(p, end))
        while (is_digit(p, end))
            p++;
    else
        return 0;
    size_t n_int = (size_t)(p - digits);
    int integer = 1;
    if (p < end && *p == '.') {
        integer = 0;
        p++;
        if (!is_digit(p, end))
            return 0;
        while (is_digit(p, end))
            p++;
    }
    long exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        integer = 0;
        p++;
        int neg_exp = p < end && *p == '-';
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return 0;
        int n_exp = 0;
        while (is_digit(p, end)) {
            if (++n_exp > 4)
                return 0; /* unsure */
            exp = exp * 10 + (*p - '0');
            p++;
        }
        if (neg_exp)
            exp = -exp;
    }
    if (integer) {
        if (n_int > 18)
            return 0; /* unsure: might not fit int64 */
        int64_t v = 0;
        for (const unsigned char *d = digits; d < digits + n_int; d++)
            v = v * 10 + (*d - '0');
        *iv = neg ? -v : v;
    } else if ((long)n_int + exp > 300) {
        return 0; /* unsure: might overflow a double */
    }
    *is_int = integer;
    s->p = p;
    return 1;
}

static int literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static int key_is(const struct belt__jslice *k, const char *name)
{
    size_t n = strlen(name);
    return k->n == n && memcmp(k->p, name, n) == 0;
}

/* The role of the value of key k in an object of role `in`, and where to capture it. */
static enum role member_role(struct scan *s, enum role in, const struct belt__jslice *k,
                             struct belt__jslice **str, int64_t **iv)
{
    struct belt__jscan_answer *o = s->out;
    *str = NULL;
    *iv = NULL;
    switch (in) {
    case R_TOP:
        if (key_is(k, "id"))
            *str = &o->id;
        else if (key_is(k, "model"))
            *str = &o->model;
        else if (key_is(k, "choices"))
            return R_CHOICES;
        else if (key_is(k, "usage"))
            return R_USAGE;
        break;
    case R_CHOICE0:
        if (key_is(k, "finish_reason"))
            *str = &o->finish_reason;
        else if (key_is(k, "message"))
            return R_MESSAGE;
        break;
    case R_MESSAGE:
        if (key_is(k, "content"))
            *str = &o->content;
        else if (key_is(k, "tool_calls"))
            o->needs_tree = 1;
        break;
    case R_USAGE:
        if (key_is(k, "prompt_tokens"))
            *iv = &o->prompt_tokens;
        else if (key_is(k, "completion_tokens"))
            *iv = &o->completion_tokens;
        break;
    default:
        break;
    }
    return R_NONE;
}

/* A key must be new in its object (keys with escapes: unsure, left to jansson). */
static int remember_key(struct scan *s, size_t first, const struct belt__jslice *k)
{
    if (k->esc || s->n_keys == BELT__JSCAN_MAX_KEYS)
        return 0;
    for (size_t i = first; i < s->n_keys; i++)
        if (s->keys[i].n == k->n && memcmp(s->keys[i].p, k->p, k->n) == 0)
            return 0;
    s->keys[s->n_keys++] = *k;
    return 1;
}

static int object(struct scan *s, enum role role)
{
    size_t first = s->n_keys;
    s->p++; /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        struct belt__jslice k;
        if (s->p >= s->end || *s->p != '"' || !string(s, &k) || !remember_key(s, first, &k))
            return 0;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return 0;
        s->p++;
        skip_ws(s);
        struct belt__jslice *str, sv = {0};
        int64_t *iv, v = 0;
        int is_int = 0;
        enum role r = member_role(s, role, &k, &str, &iv);
        const unsigned char *at = s->p;
        if (!value(s, r, &sv, &v, &is_int))
            return 0;
        if (str && sv.p)
            *str = sv;
        if (iv && is_int)
            *iv = v;
        if (role == R_TOP && key_is(&k, "choices"))
            s->out->choices_array = *at == '[';
        else if (role == R_TOP && key_is(&k, "data"))
            s->out->data_array = *at == '[';
        else if (role == R_TOP && key_is(&k, "usage"))
            s->out->has_usage = *at == '{';
        else if (role == R_CHOICE0 && key_is(&k, "logprobs") && *at == '{')
            s->out->needs_tree = 1;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            s->n_keys = first;
            return 1;
        }
        return 0;
    }
}

static int array(struct scan *s, enum role role)
{
    s->p++; /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (size_t i = 0;; i++) {
        struct belt__jslice sv;
        int64_t v;
        int is_int;
        enum role r = role == R_CHOICES && i == 0 ? R_CHOICE0 : R_NONE;
        if (!value(s, r, &sv, &v, &is_int))
            return 0;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 1;
        }
        return 0;
    }
}

/* One value at s->p (no leading whitespace). Strings go to *str_out, numbers to *int_out. */
static int value(struct scan *s, enum role role, struct belt__jslice *str_out, int64_t *int_out,
                 int *is_int)
{
    if (s->p >= s->end)
        return 0;
    int ok;
    switch (*s->p) {
    case '{':
    case '[':
        if (++s->depth > BELT__JSCAN_MAX_DEPTH)
            return 0;
        ok = *s->p == '{' ? object(s, role) : array(s, role);
        s->depth--;
        return ok;
    case '"':
        return string(s, str_out);
    case 't':
        return literal(s, "true", 4);
    case 'f':
        return literal(s, "false", 5);
    case 'n':
        return literal(s, "null", 4);
    default:
        return number(s, int_out, is_int);
    }
}

int belt__jscan_answer(const char *text, size_t n, struct belt__jscan_answer *out)
{
    memset(out, 0, sizeof(*out));
    struct scan s;
    s.p = (const unsigned char *)text;
    s.end = s.p + n;
    s.depth = 0;
    s.n_keys = 0;
    s.out = out;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return 0;
    struct belt__jslice sv;
    int64_t v;
    int is_int;
    if (!value(&s, R_TOP, &sv, &v, &is_int))
        return 0;
    skip_ws(&s);
    return s.p == s.end;
}

/* Append code point v as UTF-8 at out; returns the bytes written. */
static size_t put_utf8(char *out, unsigned v)
{
    if (v < 0x80) {
        out[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        out[0] = (char)(0xC0 | (v >> 6));
        out[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        out[0] = (char)(0xE0 | (v >> 12));
        out[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        out[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (v >> 18));
    out[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((v >> 6) & 0x3F));
    out[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

size_t belt__jscan_unescape(const struct belt__jslice *s, char *out)
{
    if (!s->p) {
        out[0] = '\0';
        return 0;
    }
    if (!s->esc) {
        memcpy(out, s->p, s->n);
        out[s->n] = '\0';
        return s->n;
    }
    const unsigned char *p = (const unsigned char *)s->p, *end = p + s->n;
    size_t o = 0;
    while (p < end) {
        if (*p != '\\') {
            out[o++] = (char)*p++;
            continue;
        }
        p++;
        unsigned c = *p++;
        switch (c) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned v = 0, w = 0;
            hex4(p, end, &v); /* validated by the scan */
            p += 4;
            if (v >= 0xD800 && v <= 0xDBFF) {
                hex4(p + 2, end, &w);
                p += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
            }
            o += put_utf8(out + o, v);
            break;
        }
        default: /* " \ / */
            out[o++] = (char)c;
            break;
        }
    }
    out[o] = '\0';
    return o;
}
