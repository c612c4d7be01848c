/*
 * text.c — see text.h. One pass over the UTF-8 input; the current token is built in a bounded
 * stack buffer and handed to the callback when white space, punctuation or the end arrives.
 */
#include "belt_config.h"

#include <string.h>

#include "learn/text.h"
#include "util/error.h"
#include "util/utf8.h"

/* The punctuation that prep() splits off: . ! ? , ' " / ( ) [ ] : ; */
static int is_split_punct(int32_t cp)
{
    switch (cp) {
    case '.':
    case '!':
    case '?':
    case ',':
    case '\'':
    case '"':
    case '/':
    case '(':
    case ')':
    case '[':
    case ']':
    case ':':
    case ';':
        return 1;
    default:
        return 0;
    }
}

/* Python's str.split() white space: the Unicode White_Space property plus the ASCII
 * separators 0x1C..0x1F. */
static int is_space(int32_t cp)
{
    if (cp <= 0x20)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    if (cp < 0x85)
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int32_t belt__text_lower(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) /* Latin-1 capitals */
        return cp + 32;
    if (cp >= 0x100 && cp <= 0x17F) { /* Latin Extended-A: mostly even/odd pairs */
        if (cp == 0x130)
            return 'i';
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
            return (cp & 1) ? cp + 1 : cp;
        if (cp == 0x178)
            return 0xFF;
        if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F)
            return cp;
        return (cp & 1) ? cp : cp + 1;
    }
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) /* Greek capitals */
        return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F) /* Cyrillic capitals */
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80;
    if (cp >= 0xFF21 && cp <= 0xFF3A) /* full-width Latin capitals */
        return cp + 32;
    return cp;
}

/* The token being built. */
struct tok_state {
    char buf[BELT__TOKEN_MAX]; /* current token bytes */
    size_t len;                /* bytes used */
    belt__token_fn *fn;        /* receiver */
    void *ud;                  /* receiver's data */
    int stopped;               /* the receiver asked to stop */
};

static void flush(struct tok_state *t)
{
    if (t->len > 0 && !t->stopped && t->fn(t->ud, t->buf, t->len) != 0)
        t->stopped = 1;
    t->len = 0;
}

belt_status belt__text_tokens(const char *text, size_t len, belt__token_fn *fn, void *ud,
                              struct belt_error *err)
{
    struct tok_state t;
    t.len = 0;
    t.fn = fn;
    t.ud = ud;
    t.stopped = 0;
    size_t bad = 0;
    if (!belt_utf8_valid(text, len, &bad))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "invalid UTF-8 at byte %zu", bad + 1);
    size_t i = 0;
    while (i < len && !t.stopped) {
        int32_t cp = belt_utf8_next(text, len, &i);
        if (is_space(cp)) {
            flush(&t);
        } else if (is_split_punct(cp)) {
            flush(&t);
            char p = (char)cp;
            if (!t.stopped && fn(ud, &p, 1) != 0)
                t.stopped = 1;
        } else {
            char enc[4];
            size_t n = belt_utf8_encode(belt__text_lower(cp), enc);
            if (t.len + n > sizeof(t.buf))
                flush(&t);
            memcpy(t.buf + t.len, enc, n);
            t.len += n;
        }
    }
    flush(&t);
    return BELT_OK;
}

struct norm_state {
    struct belt_buf *out; /* destination */
    size_t start;         /* out->len before the call */
    belt_status st;       /* first append failure */
};

static int norm_token(void *ud, const char *tok, size_t len)
{
    struct norm_state *ns = ud;
    if (ns->out->len > ns->start)
        ns->st = belt_buf_putc(ns->out, ' ');
    if (ns->st == BELT_OK)
        ns->st = belt_buf_append(ns->out, tok, len);
    return ns->st != BELT_OK;
}

belt_status belt__text_normalize(const char *text, size_t len, struct belt_buf *out,
                                 struct belt_error *err)
{
    struct norm_state ns = {out, out->len, BELT_OK};
    belt_status st = belt__text_tokens(text, len, norm_token, &ns, err);
    if (st != BELT_OK)
        return st;
    if (ns.st != BELT_OK)
        return belt__error_set(err, ns.st, 0, "normalised text: %s", belt_strerror(ns.st));
    return BELT_OK;
}
