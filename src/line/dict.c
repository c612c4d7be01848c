/*
 * dict.c — phrase dictionary matcher; see dict.h.
 *
 * Building inserts phrases into a trie (first-child / next-sibling links); freezing turns each
 * node's children into a sorted edge array (binary search) plus a direct table for ASCII
 * first tokens, so that trying a position costs one table lookup in the common case.
 */
#include "belt_config.h"

#include <stdlib.h>
#include <string.h>

#include "line/dict.h"
#include "util/utf8.h"

#define TOK_SPACE (-1) /* a run of white space */
#define TOK_BAD   (-2) /* an invalid UTF-8 byte */

struct node {
    int32_t tok;           /* token leading here */
    int32_t value;         /* phrase value when a phrase ends here, else -1 */
    uint32_t first_child;  /* building: first child (0: none) */
    uint32_t next_sibling; /* building: next sibling (0: none) */
    uint32_t first_edge;   /* frozen: children in edges[first_edge, +n_edges) */
    uint32_t n_edges;      /* frozen: child count */
};

struct edge {
    int32_t tok;    /* token */
    uint32_t child; /* node index */
};

struct belt_dict {
    struct node *nodes;       /* [0] is the root; owned */
    size_t n_nodes;           /* count */
    size_t cap_nodes;         /* allocated */
    struct edge *edges;       /* frozen child lists; owned */
    uint32_t root_ascii[128]; /* frozen: root child for an ASCII token (0: none) */
    size_t n_phrases;         /* distinct phrases */
    int caseless;             /* fold case */
    int frozen;               /* ready to match */
};

/* ==== Characters =========================================================================== */

static int is_space_cp(int32_t cp)
{
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static int is_word_cp(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) ||
        (cp >= 0x3000 && cp <= 0x303F))
        return 0;
    return !is_space_cp(cp);
}

static int32_t fold_latin(int32_t c)
{
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c == 0x130)
        return 'i';
    if (c == 0x178)
        return 0xFF;
    if (c == 0x17F)
        return 's';
    if ((c >= 0x100 && c <= 0x137 && c != 0x130 && c != 0x131) || (c >= 0x14A && c <= 0x177))
        return (c & 1) ? c : c + 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c + 1 : c;
    if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF))
        return (c & 1) ? c : c + 1;
    return c;
}

static int32_t fold_greek_cyrillic(int32_t c)
{
    if (c == 0x386)
        return 0x3AC;
    if (c >= 0x388 && c <= 0x38A)
        return c + 37;
    if (c == 0x38C)
        return 0x3CC;
    if (c == 0x38E || c == 0x38F)
        return c + 63;
    if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB))
        return c + 32;
    if (c == 0x3C2)
        return 0x3C3;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c == 0x4C0)
        return 0x4CF;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F))
        return (c & 1) ? c : c + 1;
    if (c >= 0x4C1 && c <= 0x4CE)
        return (c & 1) ? c + 1 : c;
    return c;
}

static int32_t fold(int32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c < 0x370 || (c >= 0x1E00 && c <= 0x1EFF))
        return fold_latin(c);
    if (c < 0x530)
        return fold_greek_cyrillic(c);
    return c;
}

/* Read the token at s[*i] (advancing *i): a folded code point, TOK_SPACE for a run of white
 * space, or TOK_BAD for an invalid byte. *word tells whether it is a word character. */
static int32_t read_tok(const struct belt_dict *d, const char *s, size_t n, size_t *i, int *word)
{
    int32_t cp;
    unsigned char b = (unsigned char)s[*i];
    if (b < 0x80) {
        cp = b;
        (*i)++;
    } else {
        cp = belt_utf8_next(s, n, i);
        if (cp < 0) {
            *word = 0;
            return TOK_BAD;
        }
    }
    if (is_space_cp(cp)) {
        size_t j = *i;
        while (j < n) {
            size_t k = j;
            int32_t c2 =
                (unsigned char)s[k] < 0x80 ? (unsigned char)s[k++] : belt_utf8_next(s, n, &k);
            if (c2 < 0 || !is_space_cp(c2))
                break;
            j = k;
        }
        *i = j;
        *word = 0;
        return TOK_SPACE;
    }
    *word = is_word_cp(cp);
    return d->caseless ? fold(cp) : cp;
}

/* ==== Building ============================================================================= */

belt_status belt__dict_new(int caseless, struct belt_dict **out)
{
    *out = NULL;
    struct belt_dict *d = belt_calloc(1, sizeof(*d));
    if (!d)
        return BELT_ERR_NOMEM;
    d->cap_nodes = 64;
    d->nodes = belt_calloc(d->cap_nodes, sizeof(*d->nodes));
    if (!d->nodes) {
        belt_free(d);
        return BELT_ERR_NOMEM;
    }
    d->n_nodes = 1;
    d->nodes[0].value = -1;
    d->caseless = caseless;
    *out = d;
    return BELT_OK;
}

void belt__dict_free(struct belt_dict *d)
{
    if (!d)
        return;
    belt_free(d->nodes);
    belt_free(d->edges);
    belt_free(d);
}

/* The child of `node` for tok, created when absent; 0 when out of memory. */
static uint32_t child_for(struct belt_dict *d, uint32_t node, int32_t tok)
{
    uint32_t prev = 0;
    for (uint32_t k = d->nodes[node].first_child; k; k = d->nodes[k].next_sibling) {
        if (d->nodes[k].tok == tok)
            return k;
        prev = k;
    }
    if (d->n_nodes == d->cap_nodes) {
        if (d->cap_nodes > UINT32_MAX / 2)
            return 0;
        struct node *v = belt_realloc(d->nodes, d->cap_nodes * 2 * sizeof(*v));
        if (!v)
            return 0;
        d->nodes = v;
        d->cap_nodes *= 2;
    }
    uint32_t k = (uint32_t)d->n_nodes++;
    memset(&d->nodes[k], 0, sizeof(d->nodes[k]));
    d->nodes[k].tok = tok;
    d->nodes[k].value = -1;
    if (prev)
        d->nodes[prev].next_sibling = k;
    else
        d->nodes[node].first_child = k;
    return k;
}

belt_status belt__dict_add(struct belt_dict *d, const char *phrase, size_t n, int32_t value,
                           int32_t *existing)
{
    if (d->frozen || value < 0 || !belt_utf8_valid(phrase, n, NULL))
        return BELT_ERR_INVALID;
    size_t i = 0, n_tok = 0;
    uint32_t node = 0;
    int32_t pending = 0; /* a white-space run waits for the next code point */
    while (i < n) {
        int word;
        int32_t tok = read_tok(d, phrase, n, &i, &word);
        if (tok == TOK_SPACE) {
            pending = node != 0;
            continue;
        }
        if (pending) {
            node = child_for(d, node, TOK_SPACE);
            if (!node)
                return BELT_ERR_NOMEM;
            pending = 0;
        }
        if (++n_tok > BELT_DICT_MAX_PHRASE)
            return BELT_ERR_INVALID;
        node = child_for(d, node, tok);
        if (!node)
            return BELT_ERR_NOMEM;
    }
    if (node == 0)
        return BELT_ERR_INVALID;
    if (d->nodes[node].value >= 0 && d->nodes[node].value != value) {
        if (existing)
            *existing = d->nodes[node].value;
        return BELT_ERR_EXISTS;
    }
    if (d->nodes[node].value < 0)
        d->n_phrases++;
    d->nodes[node].value = value;
    return BELT_OK;
}

static int edge_cmp(const void *a, const void *b)
{
    int32_t x = ((const struct edge *)a)->tok, y = ((const struct edge *)b)->tok;
    return x < y ? -1 : x > y;
}

belt_status belt__dict_freeze(struct belt_dict *d)
{
    if (d->frozen)
        return BELT_OK;
    size_t n_edges = d->n_nodes - 1; /* every node but the root is one edge */
    d->edges = belt_calloc(n_edges ? n_edges : 1, sizeof(*d->edges));
    if (!d->edges)
        return BELT_ERR_NOMEM;
    uint32_t e = 0;
    for (size_t k = 0; k < d->n_nodes; k++) {
        struct node *x = &d->nodes[k];
        x->first_edge = e;
        for (uint32_t c = x->first_child; c; c = d->nodes[c].next_sibling)
            d->edges[e++] = (struct edge){d->nodes[c].tok, c};
        x->n_edges = e - x->first_edge;
        qsort(d->edges + x->first_edge, x->n_edges, sizeof(struct edge), edge_cmp);
    }
    memset(d->root_ascii, 0, sizeof(d->root_ascii));
    for (uint32_t k = 0; k < d->nodes[0].n_edges; k++) {
        const struct edge *ed = &d->edges[d->nodes[0].first_edge + k];
        if (ed->tok >= 0 && ed->tok < 128)
            d->root_ascii[ed->tok] = ed->child;
    }
    d->frozen = 1;
    return BELT_OK;
}

size_t belt__dict_n_phrases(const struct belt_dict *d)
{
    return d->n_phrases;
}

/* ==== Matching ============================================================================= */

static uint32_t find_child(const struct belt_dict *d, uint32_t node, int32_t tok)
{
    if (node == 0 && tok >= 0 && tok < 128)
        return d->root_ascii[tok];
    const struct edge *e = d->edges + d->nodes[node].first_edge;
    size_t lo = 0, hi = d->nodes[node].n_edges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].tok == tok)
            return e[mid].child;
        if (e[mid].tok < tok)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Is the code point at s[i] a word character (0 at the end)? */
static int word_at(const struct belt_dict *d, const char *s, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    int word = 0;
    int32_t tok = read_tok(d, s, n, &i, &word);
    return tok >= 0 && word;
}

/* Longest phrase starting with the token that ends at j (first child `node`, word-ness w). */
static size_t walk(const struct belt_dict *d, const char *s, size_t n, uint32_t node, size_t j,
                   int w, int32_t *value)
{
    size_t best = 0;
    for (;;) {
        const struct node *x = &d->nodes[node];
        if (x->value >= 0 && !(w && word_at(d, s, n, j))) {
            best = j;
            *value = x->value;
        }
        if (x->n_edges == 0 || j >= n)
            break;
        int word = 0;
        int32_t tok = read_tok(d, s, n, &j, &word);
        if (tok == TOK_BAD)
            break;
        node = find_child(d, node, tok);
        if (!node)
            break;
        w = word;
    }
    return best;
}

static inline int ascii_word(unsigned char b)
{
    return (unsigned)((b | 0x20) - 'a') < 26 || (unsigned)(b - '0') < 10 || b == '_';
}

static inline int ascii_space(unsigned char b)
{
    return b == ' ' || (b >= 0x09 && b <= 0x0D);
}

int belt__dict_find(const struct belt_dict *d, const char *s, size_t n, size_t from, size_t *start,
                    size_t *end, int32_t *value)
{
    if (!d->frozen)
        return 0;
    int prev_word = 0;
    if (from > 0 && from <= n) { /* the code point before `from` */
        size_t k = from - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        prev_word = word_at(d, s, n, k);
    }
    size_t i = from;
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        int32_t tok;
        int w;
        size_t j = i + 1;
        if (b < 0x80) { /* ASCII fast path: most positions are inside words or spaces */
            w = ascii_word(b);
            if ((w && prev_word) || ascii_space(b)) {
                prev_word = w;
                i = j;
                continue;
            }
            tok = d->caseless && (unsigned)(b - 'A') < 26 ? b + 32 : b;
        } else {
            j = i;
            tok = read_tok(d, s, n, &j, &w);
        }
        if (tok >= 0 && !(w && prev_word)) {
            uint32_t c = find_child(d, 0, tok);
            size_t e = c ? walk(d, s, n, c, j, w, value) : 0;
            if (e) {
                *start = i;
                *end = e;
                return 1;
            }
        }
        prev_word = tok >= 0 && w;
        i = j;
    }
    return 0;
}
