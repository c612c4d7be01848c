/*
 * retrieve.c — passage indexing and BM25 retrieval over the store's FTS5 table; see belt.h
 * (belt_indexer_*, belt_retriever_*, belt_corpus_*) and retrieve.h.
 *
 * `passages` holds the text; `passages_fts` is an external-content FTS5 index over (corpus,
 * text) kept in sync by triggers (store migration v4). A query becomes
 * `corpus : "HEX0" AND text : ("w1" OR "w2" ...)` with every user word double-quoted, so no
 * user text is ever parsed as FTS5 syntax; the corpus column is one exact token per corpus
 * (hex of the name), and ranking uses bm25() with that column at weight 0, inside FTS5
 * (ORDER BY rank LIMIT k) before the join that fetches the text.
 */
#include "belt_config.h"

#include <string.h>

#include "line/retrieve.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/utf8.h"

/* ==== Pure helpers ========================================================================= */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int belt__corpus_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > BELT_CORPUS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Does the word text[ws, we) end a sentence? */
static int ends_sentence(const char *text, size_t we)
{
    char c = text[we - 1];
    if (c == '"' || c == '\'' || c == ')') /* closing punctuation after the stop */
        c = we >= 2 ? text[we - 2] : c;
    return c == '.' || c == '!' || c == '?';
}

/* Start and end offsets of the white-space separated words of text (*ws, *we owned by the
 * caller, belt_free). */
static belt_status find_words(const char *text, size_t len, size_t **ws, size_t **we,
                              size_t *n_words)
{
    size_t n = 0, cap = 0;
    *ws = *we = NULL;
    for (size_t i = 0; i < len;) {
        while (i < len && is_space(text[i]))
            i++;
        if (i == len)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            size_t *a = belt_realloc(*ws, cap * sizeof(**ws));
            if (a)
                *ws = a;
            size_t *b = a ? belt_realloc(*we, cap * sizeof(**we)) : NULL;
            if (b)
                *we = b;
            if (!a || !b)
                return BELT_ERR_NOMEM;
        }
        (*ws)[n] = i;
        while (i < len && !is_space(text[i]))
            i++;
        (*we)[n++] = i;
    }
    *n_words = n;
    return BELT_OK;
}

belt_status belt__retrieve_chunks(const char *text, size_t len, size_t chunk_words, size_t overlap,
                                  struct belt_text_span **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t n_words = 0, *ws = NULL, *we = NULL;
    belt_status st = find_words(text, len, &ws, &we, &n_words);
    struct belt_text_span *c = NULL;
    if (st == BELT_OK && n_words > 0) {
        c = belt_calloc(n_words, sizeof(*c)); /* each passage advances at least one word */
        st = c ? BELT_OK : BELT_ERR_NOMEM;
    }
    if (st != BELT_OK || n_words == 0)
        goto done;
    size_t per = chunk_words ? chunk_words : n_words;
    if (overlap >= per)
        overlap = per - 1;
    size_t k = 0, w = 0;
    for (;;) {
        size_t end = BELT_MIN(w + per, n_words);
        for (size_t j = end; end < n_words && j > w + (2 * per) / 3 && j > w + 1; j--) {
            if (ends_sentence(text, we[j - 1])) { /* prefer a sentence end in the last third */
                end = j;
                break;
            }
        }
        c[k].start = ws[w];
        c[k].end = we[end - 1];
        k++;
        if (end == n_words)
            break;
        size_t next = end > overlap ? end - overlap : end;
        w = next > w ? next : w + 1;
    }
    *out = c;
    *n_out = k;
    c = NULL;
done:
    belt_free(c);
    belt_free(ws);
    belt_free(we);
    return st;
}

static int is_term_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* English stop words (sorted): dropped from queries that have other words, because they
 * match most passages (slow) and rank nothing. */
static const char *const stopwords[] = {
    "a",      "about",  "above", "after",  "again",    "against",    "all",  "am",
    "an",     "and",    "any",   "are",    "as",       "at",         "be",   "because",
    "been",   "before", "being", "below",  "between",  "both",       "but",  "by",
    "can",    "could",  "did",   "do",     "does",     "doing",      "down", "during",
    "each",   "few",    "for",   "from",   "further",  "had",        "has",  "have",
    "having", "he",     "her",   "here",   "hers",     "herself",    "him",  "himself",
    "his",    "how",    "i",     "if",     "in",       "into",       "is",   "it",
    "its",    "itself", "just",  "me",     "more",     "most",       "my",   "myself",
    "no",     "nor",    "not",   "now",    "of",       "off",        "on",   "once",
    "only",   "or",     "other", "our",    "ours",     "ourselves",  "out",  "over",
    "own",    "same",   "she",   "should", "so",       "some",       "such", "than",
    "that",   "the",    "their", "theirs", "them",     "themselves", "then", "there",
    "these",  "they",   "this",  "those",  "through",  "to",         "too",  "under",
    "until",  "up",     "very",  "was",    "we",       "were",       "what", "when",
    "where",  "which",  "while", "who",    "whom",     "why",        "will", "with",
    "would",  "you",    "your",  "yours",  "yourself", "yourselves"};

static int is_stopword(const char *s, size_t n)
{
    char w[16];
    if (n >= sizeof(w))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        w[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    w[n] = '\0';
    size_t lo = 0, hi = BELT_ARRAY_LEN(stopwords);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(w, stopwords[mid]);
        if (r == 0)
            return 1;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

#define MAX_QUERY_TERMS 256

struct term {
    size_t start; /* byte offset in the query */
    size_t len;   /* bytes */
    int stop;     /* an English stop word */
};

static int same_term(const char *q, const struct term *t, size_t s, size_t n)
{
    if (t->len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((q[t->start + i] | 0x20) != (q[s + i] | 0x20))
            return 0;
    return 1;
}

/* The distinct words of the query, in order. */
static size_t query_terms(const char *query, size_t len, struct term *t)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < MAX_QUERY_TERMS;) {
        while (i < len && !is_term_byte((unsigned char)query[i]))
            i++;
        size_t s = i;
        while (i < len && is_term_byte((unsigned char)query[i]))
            i++;
        if (i == s || !belt_utf8_valid(query + s, i - s, NULL))
            continue; /* a word must be whole UTF-8 */
        size_t k = 0;
        while (k < n && !same_term(query, &t[k], s, i - s))
            k++;
        if (k < n)
            continue;
        t[n].start = s;
        t[n].len = i - s;
        t[n].stop = is_stopword(query + s, i - s);
        n++;
    }
    return n;
}

int belt__retrieve_fts_query(const char *corpus, const char *query, size_t len, int match_all,
                             size_t max_terms, int keep_stopwords, struct belt_buf *out)
{
    struct term t[MAX_QUERY_TERMS];
    size_t n = query_terms(query, len, t), n_content = 0;
    for (size_t i = 0; i < n; i++)
        n_content += !t[i].stop;
    int skip_stop = !keep_stopwords && n_content > 0;
    belt_buf_reset(out);
    /* The corpus column holds hex(name) || '0' (see the store schema): an exact token. */
    if (belt_buf_puts(out, "corpus : \"") != BELT_OK)
        return -1;
    for (const unsigned char *p = (const unsigned char *)corpus; *p; p++)
        if (belt_buf_printf(out, "%02X", *p) != BELT_OK)
            return -1;
    if (belt_buf_puts(out, "0\" AND text : (") != BELT_OK)
        return -1;
    int used = 0;
    for (size_t i = 0; i < n && (size_t)used < max_terms; i++) {
        if (skip_stop && t[i].stop)
            continue;
        if ((used && belt_buf_puts(out, match_all ? " AND " : " OR ") != BELT_OK) ||
            belt_buf_putc(out, '"') != BELT_OK ||
            belt_buf_append(out, query + t[i].start, t[i].len) != BELT_OK ||
            belt_buf_putc(out, '"') != BELT_OK)
            return -1;
        used++;
    }
    if (belt_buf_putc(out, ')') != BELT_OK)
        return -1;
    return used;
}

/* ==== Indexer ============================================================================== */

struct belt_indexer {
    struct belt_store *st;        /* borrowed */
    struct belt_indexer_params p; /* effective; corpus owned */
    sqlite3_stmt *del;            /* DELETE a document */
    sqlite3_stmt *ins;            /* INSERT a passage */
    int in_tx;                    /* a transaction is open */
    size_t pending;               /* documents in the open transaction */
    int64_t n_docs;               /* documents added */
    int64_t n_passages;           /* passages written */
};

struct belt_indexer_params belt_indexer_default_params(void)
{
    struct belt_indexer_params p = {NULL, 0, 0, 500};
    return p;
}

void belt_indexer_free(struct belt_indexer *ix)
{
    if (!ix)
        return;
    if (ix->in_tx)
        belt__store_rollback(ix->st);
    sqlite3_finalize(ix->del);
    sqlite3_finalize(ix->ins);
    belt_free((char *)ix->p.corpus);
    belt_free(ix);
}

belt_status belt_indexer_new(struct belt_store *st, const struct belt_indexer_params *p,
                             struct belt_indexer **out, struct belt_error *err)
{
    *out = NULL;
    if (!p || !belt__corpus_name_ok(p->corpus))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "corpus name \"%s\" must be 1-%d letters, digits, '_', '-' or '.'",
                               p && p->corpus ? p->corpus : "", BELT_CORPUS_NAME_MAX);
    if (p->chunk_words && p->chunk_overlap >= p->chunk_words)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "chunk overlap (%zu) must be smaller than the chunk size (%zu)",
                               p->chunk_overlap, p->chunk_words);
    struct belt_indexer *ix = belt_calloc(1, sizeof(*ix));
    if (!ix)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    ix->st = st;
    ix->p = *p;
    if (!ix->p.batch_size)
        ix->p.batch_size = 500;
    ix->p.corpus = belt_strdup(p->corpus);
    belt_status s =
        ix->p.corpus ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (s == BELT_OK)
        s = belt__store_prepare(st, "DELETE FROM passages WHERE corpus = ?1 AND doc_id = ?2",
                                &ix->del, err);
    if (s == BELT_OK)
        s = belt__store_prepare(st,
                                "INSERT INTO passages(corpus, doc_id, chunk, text, created_ms) "
                                "VALUES (?1, ?2, ?3, ?4, ?5)",
                                &ix->ins, err);
    if (s != BELT_OK) {
        belt_indexer_free(ix);
        return s;
    }
    *out = ix;
    return BELT_OK;
}

static belt_status check_doc(const char *doc_id, const char *text, size_t len,
                             struct belt_error *err)
{
    size_t idn = doc_id ? strlen(doc_id) : 0;
    size_t bad = 0;
    if (idn == 0 || idn > BELT_DOC_ID_MAX)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "document id must have 1-%d bytes",
                               BELT_DOC_ID_MAX);
    if (!belt_utf8_valid(doc_id, idn, NULL))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "document id is not valid UTF-8");
    if (!belt_utf8_valid(text, len, &bad))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "document \"%s\": invalid UTF-8 at byte %zu", doc_id, bad + 1);
    if (memchr(text, '\0', len))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "document \"%s\": contains a NUL byte",
                               doc_id);
    return BELT_OK;
}

/* Replace the document's passages (inside the open transaction). */
static belt_status write_doc(struct belt_indexer *ix, const char *doc_id, const char *text,
                             const struct belt_text_span *c, size_t n, struct belt_error *err)
{
    sqlite3_reset(ix->del);
    sqlite3_bind_text(ix->del, 1, ix->p.corpus, -1, SQLITE_STATIC);
    sqlite3_bind_text(ix->del, 2, doc_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(ix->del);
    if (rc != SQLITE_DONE)
        return belt__store_error(ix->st, rc, err, "deleting the old document");
    int64_t now = belt_wall_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(ix->ins);
        sqlite3_bind_text(ix->ins, 1, ix->p.corpus, -1, SQLITE_STATIC);
        sqlite3_bind_text(ix->ins, 2, doc_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ix->ins, 3, (sqlite3_int64)i);
        sqlite3_bind_text(ix->ins, 4, text + c[i].start, (int)(c[i].end - c[i].start),
                          SQLITE_STATIC);
        sqlite3_bind_int64(ix->ins, 5, now);
        rc = sqlite3_step(ix->ins);
        if (rc != SQLITE_DONE)
            return belt__store_error(ix->st, rc, err, "inserting a passage");
    }
    return BELT_OK;
}

belt_status belt_indexer_add(struct belt_indexer *ix, const char *doc_id, const char *text,
                             size_t len, struct belt_error *err)
{
    belt_status s = check_doc(doc_id, text, len, err);
    if (s != BELT_OK)
        return s;
    if (len > (size_t)1 << 30)
        return belt__error_set(err, BELT_ERR_TOOBIG, 0, "document \"%s\" is larger than 1 GiB",
                               doc_id);
    struct belt_text_span *c = NULL;
    size_t n = 0;
    if (belt__retrieve_chunks(text, len, ix->p.chunk_words, ix->p.chunk_overlap, &c, &n) != BELT_OK)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (n == 0) {
        belt_free(c);
        return belt__error_set(err, BELT_ERR_INVALID, 0, "document \"%s\" has no text", doc_id);
    }
    if (!ix->in_tx) {
        s = belt__store_begin(ix->st, err);
        ix->in_tx = s == BELT_OK;
    }
    if (s == BELT_OK) /* a failed document leaves the batch as it was */
        s = belt__store_exec(ix->st, "SAVEPOINT doc", err);
    if (s == BELT_OK) {
        s = write_doc(ix, doc_id, text, c, n, err);
        if (s == BELT_OK)
            s = belt__store_exec(ix->st, "RELEASE doc", err);
        if (s != BELT_OK)
            sqlite3_exec(belt__store_db(ix->st), "ROLLBACK TO doc; RELEASE doc", NULL, NULL, NULL);
    }
    belt_free(c);
    if (s != BELT_OK)
        return s;
    ix->n_docs++;
    ix->n_passages += (int64_t)n;
    if (++ix->pending >= ix->p.batch_size)
        return belt_indexer_commit(ix, err);
    return BELT_OK;
}

belt_status belt_indexer_commit(struct belt_indexer *ix, struct belt_error *err)
{
    if (!ix->in_tx)
        return BELT_OK;
    belt_status s = belt__store_commit(ix->st, err);
    if (s != BELT_OK)
        return s;
    ix->in_tx = 0;
    ix->pending = 0;
    return BELT_OK;
}

int64_t belt_indexer_n_documents(const struct belt_indexer *ix)
{
    return ix->n_docs;
}

int64_t belt_indexer_n_passages(const struct belt_indexer *ix)
{
    return ix->n_passages;
}

/* ==== Retriever ============================================================================ */

struct belt_retriever {
    struct belt_store *st;          /* borrowed */
    struct belt_retriever_params p; /* effective; corpus owned */
    sqlite3_stmt *q;                /* the ranked query */
    struct belt_buf match;          /* MATCH expression scratch */
};

struct belt_retriever_params belt_retriever_default_params(void)
{
    struct belt_retriever_params p = {NULL, 5, 0, 32, 0};
    return p;
}

void belt_retriever_free(struct belt_retriever *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->q);
    belt_buf_deinit(&r->match);
    belt_free((char *)r->p.corpus);
    belt_free(r);
}

belt_status belt_retriever_new(struct belt_store *st, const struct belt_retriever_params *p,
                               struct belt_retriever **out, struct belt_error *err)
{
    *out = NULL;
    if (!p || !belt__corpus_name_ok(p->corpus))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "corpus name \"%s\" must be 1-%d letters, digits, '_', '-' or '.'",
                               p && p->corpus ? p->corpus : "", BELT_CORPUS_NAME_MAX);
    if (p->k > 1000)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "k must be at most 1000 (got %zu)", p->k);
    struct belt_retriever *r = belt_calloc(1, sizeof(*r));
    if (!r)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    r->st = st;
    r->p = *p;
    r->p.k = p->k ? p->k : 5;
    r->p.max_terms = p->max_terms ? BELT_MIN(p->max_terms, 256) : 32;
    belt_buf_init(&r->match, 64 * 1024);
    r->p.corpus = belt_strdup(p->corpus);
    belt_status s =
        r->p.corpus ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (s == BELT_OK)
        s = belt__store_prepare(
            st,
            "SELECT p.doc_id, p.chunk, p.text, -f.rank FROM "
            "(SELECT rowid, rank FROM passages_fts WHERE passages_fts MATCH ?1 "
            "   AND rank MATCH 'bm25(0.0, 1.0)' ORDER BY rank LIMIT ?3) AS f "
            "JOIN passages p ON p.id = f.rowid WHERE p.corpus = ?2 ORDER BY f.rank",
            &r->q, err);
    if (s != BELT_OK) {
        belt_retriever_free(r);
        return s;
    }
    *out = r;
    return BELT_OK;
}

belt_status belt_retriever_query(struct belt_retriever *r, const char *query, size_t len, size_t k,
                                 belt_passage_fn *fn, void *ud, struct belt_error *err)
{
    int n =
        belt__retrieve_fts_query(r->p.corpus, query ? query : "", query ? len : 0, r->p.match_all,
                                 r->p.max_terms, r->p.keep_stopwords, &r->match);
    if (n < 0)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory building a query");
    if (n == 0)
        return BELT_OK;
    sqlite3_reset(r->q);
    sqlite3_bind_text(r->q, 1, r->match.data, (int)r->match.len, SQLITE_STATIC);
    sqlite3_bind_text(r->q, 2, r->p.corpus, -1, SQLITE_STATIC);
    sqlite3_bind_int64(r->q, 3, (sqlite3_int64)(k ? BELT_MIN(k, 1000) : r->p.k));
    int rc;
    for (;;) {
        rc = sqlite3_step(r->q);
        if (rc != SQLITE_ROW)
            break;
        struct belt_passage ps;
        ps.doc_id = (const char *)sqlite3_column_text(r->q, 0);
        ps.chunk = sqlite3_column_int64(r->q, 1);
        ps.text = (const char *)sqlite3_column_text(r->q, 2);
        ps.score = sqlite3_column_double(r->q, 3);
        if (!ps.doc_id || !ps.text) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (fn(ud, &ps) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(r->q);
    if (rc != SQLITE_DONE)
        return belt__store_error(r->st, rc, err, "retrieving passages");
    return BELT_OK;
}

struct json_collect {
    json_t *arr; /* results */
    int oom;     /* an allocation failed */
};

static int collect_json(void *ud, const struct belt_passage *p)
{
    struct json_collect *c = ud;
    json_t *o = json_pack("{s:s,s:I,s:f,s:s}", "id", p->doc_id, "chunk", (json_int_t)p->chunk,
                          "score", p->score, "text", p->text);
    if (!o || json_array_append_new(c->arr, o) != 0) {
        c->oom = 1;
        return 1;
    }
    return 0;
}

belt_status belt__retriever_query_json(struct belt_retriever *r, const char *query, size_t len,
                                       size_t k, json_t **out, struct belt_error *err)
{
    struct json_collect c = {json_array(), 0};
    *out = NULL;
    if (!c.arr)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_status s = belt_retriever_query(r, query, len, k, collect_json, &c, err);
    if (s == BELT_OK && c.oom)
        s = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (s != BELT_OK) {
        json_decref(c.arr);
        return s;
    }
    *out = c.arr;
    return BELT_OK;
}

/* ==== Corpora ============================================================================== */

belt_status belt_corpus_stats(struct belt_store *st, const char *corpus, belt_corpus_stats_fn *fn,
                              void *ud, struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st,
        "SELECT corpus, count(DISTINCT doc_id), count(*), sum(length(CAST(text AS BLOB))) "
        "FROM passages WHERE ?1 IS NULL OR corpus = ?1 GROUP BY corpus ORDER BY corpus",
        &q, err);
    if (s != BELT_OK)
        return s;
    if (corpus)
        sqlite3_bind_text(q, 1, corpus, -1, SQLITE_STATIC);
    int rc;
    for (;;) {
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW)
            break;
        struct belt_corpus_stats cs;
        cs.corpus = (const char *)sqlite3_column_text(q, 0);
        cs.n_documents = sqlite3_column_int64(q, 1);
        cs.n_passages = sqlite3_column_int64(q, 2);
        cs.n_bytes = sqlite3_column_int64(q, 3);
        if (!cs.corpus) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (fn(ud, &cs) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        s = belt__store_error(st, rc, err, "reading corpus statistics");
    sqlite3_finalize(q);
    return s;
}

belt_status belt_corpus_drop(struct belt_store *st, const char *corpus, int64_t *n_passages,
                             struct belt_error *err)
{
    if (n_passages)
        *n_passages = 0;
    if (!belt__corpus_name_ok(corpus))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "invalid corpus name \"%s\"",
                               corpus ? corpus : "");
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_begin(st, err);
    if (s == BELT_OK)
        s = belt__store_prepare(st, "DELETE FROM passages WHERE corpus = ?1", &q, err);
    if (s == BELT_OK) {
        sqlite3_bind_text(q, 1, corpus, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            s = belt__store_error(st, rc, err, "deleting the corpus");
        else if (n_passages)
            *n_passages = sqlite3_changes64(belt__store_db(st));
    }
    sqlite3_finalize(q);
    if (s == BELT_OK)
        s = belt__store_commit(st, err);
    else
        belt__store_rollback(st);
    return s;
}
