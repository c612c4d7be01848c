/*
 * text.h — text normalisation and tokenisation for belt's small models.
 *
 * The rule (the same as the fastText benchmark's ftbench.py prep(), made Unicode-aware):
 * lower-case (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic, full-width Latin), split off
 * each of the punctuation characters  . ! ? , ' " / ( ) [ ] : ;  as a token of its own, and
 * split on Unicode white space. Text must be valid UTF-8. A token longer than
 * BELT__TOKEN_MAX bytes is cut into pieces of at most that size (on code point boundaries).
 *
 * Thread-safe: no state; no allocation in belt__text_tokens().
 */
#ifndef BELT_LEARN_TEXT_H
#define BELT_LEARN_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "util/buf.h"

#define BELT__TOKEN_MAX 256 /* bytes of one token handed to the callback */

/* Receives one normalised token: tok[0..len) is lower-cased UTF-8, borrowed for the call (not
 * NUL-terminated). Return 0 to go on, non-zero to stop the walk early. */
typedef int belt__token_fn(void *ud, const char *tok, size_t len);

/* Walk the tokens of text[0..len) in order. Errors: BELT_ERR_INVALID when the text is not
 * UTF-8 ("invalid UTF-8 at byte N", 1-based). */
belt_status belt__text_tokens(const char *text, size_t len, belt__token_fn *fn, void *ud,
                              struct belt_error *err);

/* Append the normalised text (tokens joined by one space) to out: the exact string prep()
 * produces for texts within the supported scripts. */
belt_status belt__text_normalize(const char *text, size_t len, struct belt_buf *out,
                                 struct belt_error *err);

/* Simple lower-case mapping of one code point (identity outside the supported scripts). */
int32_t belt__text_lower(int32_t cp);

#endif
