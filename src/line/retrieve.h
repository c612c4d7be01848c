/*
 * retrieve.h — internal side of retrieval (public API in belt.h: belt_indexer_*,
 * belt_retriever_*, belt_corpus_*): the pure pieces, exposed for tests and for the retrieve
 * station — passage chunking, the safe FTS5 query builder, and results as JSON.
 *
 * Tables: `passages` + `passages_fts` (store migration v4). Thread rule: as belt.h says, an
 * indexer or retriever is used by one thread at a time with its own store.
 */
#ifndef BELT_LINE_RETRIEVE_H
#define BELT_LINE_RETRIEVE_H

#include <jansson.h>
#include <stddef.h>

#include "belt.h"
#include "util/buf.h"

#define BELT_CORPUS_NAME_MAX 64
#define BELT_DOC_ID_MAX      512

/* One passage of a document: text[start, end). */
struct belt_text_span {
    size_t start; /* byte offset */
    size_t end;   /* one past the last byte */
};

/* Split text[0..len) into passages of at most chunk_words words (0: the whole text, trimmed),
 * preferring to end a passage after a sentence (". ", "! ", "? ") in its last third, and
 * starting each passage `overlap` words before the end of the previous one. Passages are exact
 * byte ranges of the text (white space inside them kept). *out is owned by the caller
 * (belt_free); *n_out = 0 when the text has no words. BELT_ERR_NOMEM. */
belt_status belt__retrieve_chunks(const char *text, size_t len, size_t chunk_words, size_t overlap,
                                  struct belt_text_span **out, size_t *n_out);

/* 1 if name is a valid corpus name (1-64 of A-Z a-z 0-9 _ - .). */
int belt__corpus_name_ok(const char *name);

/* Build the FTS5 MATCH expression for a plain-text query: the corpus filter (its exact token,
 * hex of the name + "0", as the store's triggers index it) AND the query's words (runs of
 * letters, digits and non-ASCII characters, each double-quoted, distinct ignoring ASCII case),
 * joined with OR (AND when match_all), at most max_terms of them. Unless keep_stopwords is
 * set, English stop words are left out when the query has other words. Returns the number of
 * words used (0: nothing to search), or -1 when out of memory. */
int belt__retrieve_fts_query(const char *corpus, const char *query, size_t len, int match_all,
                             size_t max_terms, int keep_stopwords, struct belt_buf *out);

/* Query and return the passages as a JSON array of {"id", "chunk", "score", "text"} objects
 * (best first), for a record field. *out owned by the caller. */
belt_status belt__retriever_query_json(struct belt_retriever *r, const char *query, size_t len,
                                       size_t k, json_t **out, struct belt_error *err);

#endif
