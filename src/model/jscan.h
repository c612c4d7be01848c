/*
 * jscan.h — a strict, allocation-free JSON validator that also picks out the few fields of an
 * OpenAI-form answer the call machinery needs (id, model, choices[0].finish_reason,
 * choices[0].message.content, usage tokens), so that an answer passed on verbatim need not be
 * parsed into a jansson tree.
 *
 * Sound, not complete: belt__jscan_answer returns 1 only for bytes that jansson's json_loadb
 * with JSON_REJECT_DUPLICATES accepts as well, with the same values. Whatever it is unsure
 * about (object keys with escapes, integers of 19 digits or more, reals that might overflow,
 * nesting deeper than BELT__JSCAN_MAX_DEPTH, objects with more keys than it tracks) makes it
 * return 0, and the caller parses with jansson, which also words the error of invalid input.
 *
 * Thread rule: pure functions; the result borrows the scanned text.
 */
#ifndef BELT_MODEL_JSCAN_H
#define BELT_MODEL_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#define BELT__JSCAN_MAX_DEPTH 64  /* deeper documents are left to jansson */
#define BELT__JSCAN_MAX_KEYS  256 /* keys of the open objects tracked for duplicates */

/* A JSON string value as it appears in the text (between the quotes, escapes not decoded). */
struct belt__jslice {
    const char *p; /* NULL: absent, or not a string */
    size_t n;      /* bytes between the quotes */
    int esc;       /* contains backslash escapes (decode with belt__jscan_unescape) */
};

/* What the call needs from an answer. Fields that are absent or of another type stay zeroed. */
struct belt__jscan_answer {
    int choices_array;                 /* top-level "choices" is an array */
    int data_array;                    /* top-level "data" is an array (embeddings) */
    struct belt__jslice id, model;     /* top-level "id" and "model" strings */
    struct belt__jslice finish_reason; /* choices[0].finish_reason string */
    struct belt__jslice content;       /* choices[0].message.content string */
    int has_usage;                     /* top-level "usage" is an object */
    int64_t prompt_tokens;             /* usage.prompt_tokens when an integer, else 0 */
    int64_t completion_tokens;         /* usage.completion_tokens when an integer, else 0 */
    int needs_tree; /* choices[0].logprobs is an object, or choices[0].message has tool_calls:
                       the caller needs the parsed values */
};

/* Validate text[0..n) as one JSON object and fill *out. Returns 1 when the text is valid JSON
 * (as above) whose top level is an object, 0 otherwise (invalid, or not sure: use jansson). */
int belt__jscan_answer(const char *text, size_t n, struct belt__jscan_answer *out);

/* Decode a validated string slice into out (room for s->n + 1 bytes: decoding never grows)
 * and NUL-terminate it. Returns the decoded length. */
size_t belt__jscan_unescape(const struct belt__jslice *s, char *out);

#endif
