/*
 * sse.c — Server-Sent Events parser (see sse.h). Lines end with "\r\n", "\n" or "\r"; a blank
 * line dispatches the event; "field: value" lines set data/event (one leading space of the
 * value is dropped); lines starting with ":" are comments; id and retry are ignored.
 */
#include "belt_config.h"

#include <string.h>

#include "model/sse.h"

void belt__sse_init(struct belt_sse *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    belt_buf_init(&p->line, max_event);
    belt_buf_init(&p->data, max_event);
}

void belt__sse_deinit(struct belt_sse *p)
{
    if (!p)
        return;
    belt_buf_deinit(&p->line);
    belt_buf_deinit(&p->data);
}

int belt__sse_pending(const struct belt_sse *p)
{
    return p->line.len > 0 || p->has_data;
}

/* Process one complete line (without its terminator); BELT_ERR_CANCELLED if fn asked to stop. */
static belt_status process_line(struct belt_sse *p, const char *s, size_t n, belt_sse_event_fn *fn,
                                void *ud)
{
    if (n == 0) { /* dispatch */
        int stop = 0;
        if (p->has_data) {
            p->n_events++;
            stop = fn(ud, p->event, belt_buf_cstr(&p->data), p->data.len);
        }
        belt_buf_reset(&p->data);
        p->has_data = 0;
        p->event[0] = '\0';
        return stop ? BELT_ERR_CANCELLED : BELT_OK;
    }
    if (s[0] == ':')
        return BELT_OK; /* comment */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        belt_status st = BELT_OK;
        if (p->has_data)
            st = belt_buf_putc(&p->data, '\n');
        if (st == BELT_OK)
            st = belt_buf_append(&p->data, v, vlen);
        p->has_data = 1;
        return st;
    }
    if (flen == 5 && memcmp(s, "event", 5) == 0) {
        size_t k = BELT_MIN(vlen, sizeof(p->event) - 1);
        memcpy(p->event, v, k);
        p->event[k] = '\0';
    }
    return BELT_OK;
}

belt_status belt__sse_feed(struct belt_sse *p, const char *buf, size_t n, belt_sse_event_fn *fn,
                           void *ud)
{
    size_t i = 0;
    while (i < n) {
        if (p->last_cr && buf[i] == '\n') { /* second half of a "\r\n" split across feeds */
            p->last_cr = 0;
            i++;
            continue;
        }
        p->last_cr = 0;
        /* find the next line terminator */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j == n) { /* incomplete line: keep it */
            belt_status st = belt_buf_append(&p->line, buf + i, n - i);
            return st;
        }
        belt_status st;
        if (p->line.len > 0) {
            st = belt_buf_append(&p->line, buf + i, j - i);
            if (st == BELT_OK)
                st = process_line(p, p->line.data, p->line.len, fn, ud);
            belt_buf_reset(&p->line);
        } else {
            st = process_line(p, buf + i, j - i, fn, ud);
        }
        if (buf[j] == '\r') {
            if (j + 1 < n && buf[j + 1] == '\n')
                j++;
            else if (j + 1 == n)
                p->last_cr = 1;
        }
        i = j + 1;
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}
