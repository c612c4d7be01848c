/*
 * features.h — text → hashed sparse features: the one feature extractor of belt's small models
 * (the text classifier, the learned router, the prompt-injection classifier).
 *
 * A text is tokenised by learn/text.h (lower-case, punctuation split off, UTF-8 checked), then
 * yields two kinds of features, each a 64-bit hash (never 0):
 *   - BELT__FEAT_WORD: word n-grams of length 1..word_ngrams (uni-, bi-, ... grams of tokens);
 *   - BELT__FEAT_CHAR: character n-grams of char_min..char_max code points taken inside each
 *     token wrapped as "<token>" (fastText's subwords), when char_min > 0.
 * Hashes depend only on the bytes and the kind, never on a seed or the process, so they are
 * stable across runs and machines and can be stored in model files (format-defining: changing
 * them needs a new model format version).
 *
 * Consumers map hashes to rows of their own (a vocabulary table, or hash % n_buckets) and weight
 * each kind's block, typically by 1/sqrt(count of that kind), see belt__features_block_scale().
 *
 * Thread-safe: the functions keep no state. belt__features_each() never allocates;
 * belt__features_extract() grows only the caller's vector.
 */
#ifndef BELT_LEARN_FEATURES_H
#define BELT_LEARN_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

enum belt__feature_kind {
    BELT__FEAT_WORD = 0, /* word n-gram */
    BELT__FEAT_CHAR = 1  /* character n-gram inside a token */
};
#define BELT__FEAT_N_KINDS         2

#define BELT__FEAT_MAX_WORD_NGRAMS 4
#define BELT__FEAT_MAX_CHAR_NGRAM  8

/* What to extract. A plain value; copy freely. */
struct belt__feature_config {
    int word_ngrams; /* longest word n-gram, 1..BELT__FEAT_MAX_WORD_NGRAMS */
    int char_min;    /* shortest character n-gram; 0 = no character n-grams */
    int char_max;    /* longest character n-gram, char_min..BELT__FEAT_MAX_CHAR_NGRAM */
};

/* Check ranges; BELT_ERR_INVALID names the bad field. */
belt_status belt__features_check_config(const struct belt__feature_config *fc,
                                        struct belt_error *err);

/* Receives one feature: its hash (never 0) and kind. Must not fail. */
typedef void belt__feature_fn(void *ud, uint64_t hash, enum belt__feature_kind kind);

/* Stream the features of text[0..len) to fn, in text order (repeats are reported each time).
 * n_kind (may be NULL) receives how many features of each kind were reported. Errors:
 * BELT_ERR_INVALID for text that is not UTF-8. No allocation. */
belt_status belt__features_each(const struct belt__feature_config *fc, const char *text, size_t len,
                                belt__feature_fn *fn, void *ud, size_t n_kind[BELT__FEAT_N_KINDS],
                                struct belt_error *err);

/* A growable list of features. Caller-embedded: _init / _deinit; reuse it across texts to avoid
 * allocation. Not thread-safe (one per thread). */
struct belt__feature_vec {
    uint64_t *hash;                    /* feature hashes, text order; owned */
    uint8_t *kind;                     /* enum belt__feature_kind of each; owned */
    size_t n;                          /* features stored */
    size_t cap;                        /* allocated entries */
    size_t n_kind[BELT__FEAT_N_KINDS]; /* features of each kind */
    belt_status st;                    /* first allocation failure while filling */
};

void belt__feature_vec_init(struct belt__feature_vec *v);
void belt__feature_vec_deinit(struct belt__feature_vec *v);

/* Replace v's contents with the features of text[0..len). Errors: BELT_ERR_INVALID (not UTF-8),
 * BELT_ERR_NOMEM. */
belt_status belt__features_extract(const struct belt__feature_config *fc, const char *text,
                                   size_t len, struct belt__feature_vec *v, struct belt_error *err);

/* The weight each feature of a block of `count` features gets so that the block has unit L2
 * norm (for distinct features): weight / sqrt(count); 0 for an empty block. */
float belt__features_block_scale(size_t count, double weight);

#endif
