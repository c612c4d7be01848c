/*
 * sse.h — incremental parser for Server-Sent Events (the WHATWG event-stream format) as sent by
 * OpenAI- and Anthropic-style streaming APIs. Bytes are fed as they arrive, split anywhere
 * (inside a line, between "\r" and "\n", inside a UTF-8 sequence); each complete event is
 * delivered once with its `event:` name and its `data:` lines joined by "\n".
 * Caller-embedded value: belt__sse_init() / belt__sse_deinit(). Not thread-safe. Pure (no I/O).
 */
#ifndef BELT_MODEL_SSE_H
#define BELT_MODEL_SSE_H

#include <stddef.h>

#include "belt.h"
#include "util/buf.h"

/* One complete event. `event` is "" when the stream gave no name (the spec's "message");
 * `data` is NUL-terminated, len bytes. Both borrowed for the call. Return 0 to continue, or
 * non-zero to stop parsing (belt__sse_feed then returns BELT_ERR_CANCELLED). */
typedef int belt_sse_event_fn(void *ud, const char *event, const char *data, size_t len);

struct belt_sse {
    struct belt_buf line; /* the current, incomplete line */
    struct belt_buf data; /* data lines of the current event, joined by "\n" */
    char event[64];       /* event name of the current event (truncated to 63 bytes) */
    int has_data;         /* a data: field was seen since the last dispatch */
    int last_cr;          /* the previous byte was "\r" (a following "\n" is part of it) */
    size_t n_events;      /* events dispatched so far */
};

/* max_event: the largest event (line or data) accepted, in bytes; bigger is BELT_ERR_TOOBIG. */
void belt__sse_init(struct belt_sse *p, size_t max_event);
void belt__sse_deinit(struct belt_sse *p);
/* Feed n bytes; calls fn for every event completed by them. Returns BELT_OK,
 * BELT_ERR_TOOBIG (an event exceeds max_event), BELT_ERR_NOMEM, or BELT_ERR_CANCELLED when fn
 * asked to stop. */
belt_status belt__sse_feed(struct belt_sse *p, const char *buf, size_t n, belt_sse_event_fn *fn,
                           void *ud);
/* 1 if bytes of an unfinished event are pending (a stream that ends here was cut). */
int belt__sse_pending(const struct belt_sse *p);

#endif
