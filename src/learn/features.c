/*
 * features.c — see features.h. Tokens come from belt__text_tokens(); a small ring of the last
 * token hashes gives the word n-grams, and each token wrapped in "<" ">" gives the character
 * n-grams by extending an FNV-1a hash one code point at a time from every start position.
 */
#include "belt_config.h"

#include <math.h>
#include <string.h>

#include "learn/features.h"
#include "learn/text.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

/* Salts that keep the kinds (and word n-gram lengths) in separate hash spaces. Changing any
 * of these changes every model: they are part of the model file format. */
#define SALT_WORD  0x9E3779B97F4A7C15ULL
#define SALT_CHAR  0xC2B2AE3D27D4EB4FULL
#define NGRAM_MULT 0x100000001B3ULL

/* Walk state shared by the token callback. */
struct walk {
    const struct belt__feature_config *fc;     /* what to extract */
    belt__feature_fn *fn;                      /* receiver */
    void *ud;                                  /* receiver's data */
    uint64_t ring[BELT__FEAT_MAX_WORD_NGRAMS]; /* hashes of the last tokens, newest at pos */
    size_t n_tokens;                           /* tokens seen so far */
    size_t n_kind[BELT__FEAT_N_KINDS];         /* features reported per kind */
};

static inline uint64_t nonzero(uint64_t h)
{
    return h ? h : 1;
}

static void emit(struct walk *w, uint64_t h, enum belt__feature_kind kind)
{
    w->n_kind[kind]++;
    w->fn(w->ud, nonzero(h), kind);
}

/* Word n-grams ending at the token just pushed. */
static void word_ngrams(struct walk *w, uint64_t th)
{
    const int maxn = w->fc->word_ngrams;
    w->ring[w->n_tokens % BELT__FEAT_MAX_WORD_NGRAMS] = th;
    w->n_tokens++;
    uint64_t g = 0;
    for (int n = 1; n <= maxn && (size_t)n <= w->n_tokens; n++) {
        uint64_t h = w->ring[(w->n_tokens - (size_t)n) % BELT__FEAT_MAX_WORD_NGRAMS];
        g = (n == 1) ? h : g * NGRAM_MULT + h;
        emit(w, belt_mix64(g ^ (SALT_WORD + (uint64_t)n)), BELT__FEAT_WORD);
    }
}

/* Character n-grams of "<tok>". The n-grams "<" and ">" alone are skipped. */
static void char_ngrams(struct walk *w, const char *tok, size_t len)
{
    unsigned char wrapped[BELT__TOKEN_MAX + 2];
    uint16_t cp_off[BELT__TOKEN_MAX + 3]; /* byte offset of each code point, plus the end */
    size_t n_cp = 0;
    wrapped[0] = '<';
    memcpy(wrapped + 1, tok, len);
    wrapped[len + 1] = '>';
    const size_t wlen = len + 2;
    for (size_t i = 0; i < wlen; i++)
        if ((wrapped[i] & 0xC0) != 0x80)
            cp_off[n_cp++] = (uint16_t)i;
    cp_off[n_cp] = (uint16_t)wlen;
    const size_t minn = (size_t)w->fc->char_min, maxn = (size_t)w->fc->char_max;
    for (size_t s = 0; s < n_cp; s++) {
        uint64_t h = BELT_FNV_OFFSET ^ SALT_CHAR;
        size_t b = cp_off[s];
        for (size_t n = 1; n <= maxn && s + n <= n_cp; n++) {
            size_t e = cp_off[s + n];
            h = belt_fnv1a(h, wrapped + b, e - b);
            b = e;
            if (n < minn)
                continue;
            if (n == 1 && (s == 0 || s + 1 == n_cp))
                continue;
            emit(w, belt_mix64(h), BELT__FEAT_CHAR);
        }
    }
}

static int on_token(void *ud, const char *tok, size_t len)
{
    struct walk *w = ud;
    word_ngrams(w, belt_fnv1a(BELT_FNV_OFFSET, tok, len));
    if (w->fc->char_min > 0)
        char_ngrams(w, tok, len);
    return 0;
}

belt_status belt__features_check_config(const struct belt__feature_config *fc,
                                        struct belt_error *err)
{
    if (fc->word_ngrams < 1 || fc->word_ngrams > BELT__FEAT_MAX_WORD_NGRAMS)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "word_ngrams must be 1..%d, not %d",
                               BELT__FEAT_MAX_WORD_NGRAMS, fc->word_ngrams);
    if (fc->char_min < 0 || fc->char_min > BELT__FEAT_MAX_CHAR_NGRAM)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "char_min must be 0..%d, not %d",
                               BELT__FEAT_MAX_CHAR_NGRAM, fc->char_min);
    if (fc->char_min > 0 &&
        (fc->char_max < fc->char_min || fc->char_max > BELT__FEAT_MAX_CHAR_NGRAM))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "char_max must be char_min..%d, not %d",
                               BELT__FEAT_MAX_CHAR_NGRAM, fc->char_max);
    return BELT_OK;
}

belt_status belt__features_each(const struct belt__feature_config *fc, const char *text, size_t len,
                                belt__feature_fn *fn, void *ud, size_t n_kind[BELT__FEAT_N_KINDS],
                                struct belt_error *err)
{
    struct walk w;
    memset(&w, 0, sizeof(w));
    w.fc = fc;
    w.fn = fn;
    w.ud = ud;
    belt_status st = belt__text_tokens(text, len, on_token, &w, err);
    if (n_kind)
        memcpy(n_kind, w.n_kind, sizeof(w.n_kind));
    return st;
}

void belt__feature_vec_init(struct belt__feature_vec *v)
{
    memset(v, 0, sizeof(*v));
}

void belt__feature_vec_deinit(struct belt__feature_vec *v)
{
    if (!v)
        return;
    belt_free(v->hash);
    belt_free(v->kind);
    memset(v, 0, sizeof(*v));
}

static void vec_push(void *ud, uint64_t hash, enum belt__feature_kind kind)
{
    struct belt__feature_vec *v = ud;
    if (v->st != BELT_OK)
        return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        uint64_t *h = belt_realloc(v->hash, cap * sizeof(*h));
        if (!h) {
            v->st = BELT_ERR_NOMEM;
            return;
        }
        v->hash = h;
        uint8_t *k = belt_realloc(v->kind, cap);
        if (!k) {
            v->st = BELT_ERR_NOMEM;
            return;
        }
        v->kind = k;
        v->cap = cap;
    }
    v->hash[v->n] = hash;
    v->kind[v->n] = (uint8_t)kind;
    v->n++;
}

belt_status belt__features_extract(const struct belt__feature_config *fc, const char *text,
                                   size_t len, struct belt__feature_vec *v, struct belt_error *err)
{
    v->n = 0;
    v->st = BELT_OK;
    belt_status st = belt__features_each(fc, text, len, vec_push, v, v->n_kind, err);
    if (st != BELT_OK)
        return st;
    if (v->st != BELT_OK)
        return belt__error_set(err, v->st, 0, "extracting features: out of memory");
    return BELT_OK;
}

float belt__features_block_scale(size_t count, double weight)
{
    if (count == 0)
        return 0.0f;
    return (float)(weight / sqrt((double)count));
}
