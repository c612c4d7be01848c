/*
 * buf.c — bounded growable byte buffer; see buf.h.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"

void belt_buf_init(struct belt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : BELT_BUF_DEFAULT_MAX;
}

void belt_buf_deinit(struct belt_buf *b)
{
    if (!b)
        return;
    belt_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void belt_buf_reset(struct belt_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

belt_status belt_buf_reserve(struct belt_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return BELT_ERR_TOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return BELT_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1 > need ? b->max + 1 : need;
    char *p = belt_realloc(b->data, cap);
    if (!p)
        return BELT_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return BELT_OK;
}

belt_status belt_buf_append(struct belt_buf *b, const void *p, size_t n)
{
    belt_status st = belt_buf_reserve(b, n);
    if (st != BELT_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BELT_OK;
}

belt_status belt_buf_puts(struct belt_buf *b, const char *s)
{
    return belt_buf_append(b, s, strlen(s));
}

belt_status belt_buf_putc(struct belt_buf *b, char c)
{
    return belt_buf_append(b, &c, 1);
}

belt_status belt_buf_vprintf(struct belt_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return BELT_ERR_INVALID;
    if ((size_t)n < sizeof(small))
        return belt_buf_append(b, small, (size_t)n);
    belt_status st = belt_buf_reserve(b, (size_t)n);
    if (st != BELT_OK)
        return st;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return BELT_OK;
}

belt_status belt_buf_printf(struct belt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    belt_status st = belt_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

belt_status belt_buf_append_json_string(struct belt_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    belt_status st = belt_buf_reserve(b, n + 2);
    if (st != BELT_OK)
        return st;
    b->data[b->len++] = '"';
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((st = belt_buf_append(b, s + run, i - run)) != BELT_OK)
            return st;
        run = i + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((st = belt_buf_append(b, esc, elen)) != BELT_OK)
            return st;
    }
    if ((st = belt_buf_append(b, s + run, n - run)) != BELT_OK)
        return st;
    return belt_buf_putc(b, '"');
}

const char *belt_buf_cstr(const struct belt_buf *b)
{
    return b->data ? b->data : "";
}

char *belt_buf_detach(struct belt_buf *b, size_t *len_out)
{
    if (!b->data && belt_buf_reserve(b, 0) != BELT_OK)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
