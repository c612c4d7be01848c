/*
 * dict.h — a phrase dictionary matcher: many phrases, each with an integer value, found in a
 * text in one left-to-right pass (a trie walked from each possible phrase start), leftmost
 * match first and the longest phrase at that position, on word boundaries. Used by rules
 * extraction (dictionaries map phrases to canonical values).
 *
 * Matching rules:
 *  - phrases are compared token by token: a code point, or a run of white space (any run of
 *    spaces, tabs, line breaks, no-break or ideographic spaces in the text matches one space
 *    in the phrase);
 *  - caseless dictionaries fold ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic letters
 *    (both phrases and text go through the same folding);
 *  - a phrase that begins (ends) with a word character only matches where the text has no word
 *    character just before (after) it. Word characters: ASCII letters, digits, '_' and every
 *    non-ASCII code point except common punctuation and spaces (U+0080-U+00BF, U+2000-U+206F,
 *    U+3000-U+303F).
 *
 * Build with belt__dict_new / _add / _freeze, then match with belt__dict_find.
 * Thread rule: building is single-threaded; a frozen dictionary is immutable and may be matched
 * from any number of threads. Matching allocates nothing.
 */
#ifndef BELT_LINE_DICT_H
#define BELT_LINE_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

struct belt_dict;

#define BELT_DICT_MAX_PHRASE 256 /* longest phrase in code points */

/* A new, empty dictionary (caseless: fold letter case). *out owned (belt__dict_free). */
belt_status belt__dict_new(int caseless, struct belt_dict **out);
void belt__dict_free(struct belt_dict *d);
/* Add phrase[0..n) with `value` (>= 0). BELT_ERR_INVALID: empty, not UTF-8, or longer than
 * BELT_DICT_MAX_PHRASE; BELT_ERR_EXISTS: the same phrase (after folding) already has another
 * value, written to *existing; BELT_ERR_NOMEM. Adding the same phrase with the same value is a
 * no-op. Not after freeze. */
belt_status belt__dict_add(struct belt_dict *d, const char *phrase, size_t n, int32_t value,
                           int32_t *existing);
/* Prepare for matching (sorts the trie); BELT_ERR_NOMEM. */
belt_status belt__dict_freeze(struct belt_dict *d);
/* Find the first phrase in s[0..n) starting at or after byte `from`: returns 1 with
 * [*start, *end) and its value, or 0. Invalid UTF-8 bytes never match. */
int belt__dict_find(const struct belt_dict *d, const char *s, size_t n, size_t from, size_t *start,
                    size_t *end, int32_t *value);
/* Number of distinct phrases. */
size_t belt__dict_n_phrases(const struct belt_dict *d);

#endif
